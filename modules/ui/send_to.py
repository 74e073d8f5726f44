"""The "Send to" buttons under the txt2img and img2img results: the picture clicked in the gallery goes to
img2img, inpaint, Extras or txt2img's first ControlNet unit, and the page switches to that tab.

A1111 puts the same row under both galleries; sending a result on is the everyday way to refine it (draw,
then inpaint a detail, then upscale). txt2img's "Send to img2img / inpaint" (which also copy its settings)
stay in img2img.connect_send; here are the sends that take the picture only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui.img2img import SendToImg2Img, _picked

if TYPE_CHECKING:
    from modules.ui.extras_tab import ExtrasTab
    from modules.ui.img2img import Img2ImgTab
    from modules.ui.txt2img import Txt2ImgTab

NOTHING = "Nothing to send: generate a picture first."


@dataclass(frozen=True)
class GallerySends:
    """One gallery's "Send to" buttons (None where a tab has no such button)."""

    gallery: Any
    selected: Any  # gr.State: the gallery index last clicked
    img2img: Any = None
    inpaint: Any = None
    extras: Any = None
    controlnet: Any = None


def _picture_of(gallery: Any, index: int | None) -> Any:
    picture = _picked(gallery, index)
    if picture is None:
        raise gr.Error(NOTHING)
    return picture


def connect(sends: GallerySends, txt2img: Txt2ImgTab, img2img: Img2ImgTab, extras: ExtrasTab | None,
            tabs: Any) -> None:
    """Wire the buttons of `sends` that exist; picture-only sends (img2img's own results keep its settings)."""
    inputs = [sends.gallery, sends.selected]
    for button, target in ((sends.img2img, "img2img"), (sends.inpaint, "inpaint")):
        if button is not None:
            sending = SendToImg2Img(img2img, tabs, target, settings=())
            button.click(_with_picture(lambda picture, s=sending: s.updates(picture, {})), inputs=inputs,
                         outputs=sending.outputs())
    if sends.extras is not None and extras is not None:
        sends.extras.click(_with_picture(lambda picture: (picture, gr.Tabs(selected=extras.single), extras.single,
                                                          gr.Tabs(selected="extras"))),
                           inputs=inputs, outputs=[extras.image, extras.source_tabs, extras.source, tabs])
    units = txt2img.controlnet.units if txt2img.controlnet is not None else []
    if sends.controlnet is not None and units:
        sends.controlnet.click(
            _with_picture(lambda picture: (picture, True,  # the unit canvas's background, its layer empty
                                           gr.Tabs(selected="txt2img"), gr.Accordion(open=True))),
            inputs=inputs, outputs=[units[0].image, units[0].enabled, tabs, txt2img.controlnet.accordion])
    elif sends.controlnet is not None:
        sends.controlnet.visible = False  # no ControlNet panel in txt2img: a button that cannot work is not shown


def _with_picture(make: Callable[[Any], Any]) -> Callable[[Any, int | None], Any]:
    def send(gallery: Any, index: int | None) -> Any:
        return make(_picture_of(gallery, index))
    return send
