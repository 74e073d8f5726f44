"""The inpaint tabs' Soft inpainting accordion becomes the request's settings (and only when it is ticked)."""

from __future__ import annotations

from modules.core.soft_inpainting import SoftInpainting
from modules.ui.img2img import request_from_form
from tests.unit.test_ui_img2img import FORM, PHOTO, editor, stroke_layer


def test_the_ticked_accordion_gives_its_slider_values_and_unticked_gives_none():
    inpaint = editor(PHOTO, mask=stroke_layer())
    ticked = {**FORM, "inpaint": inpaint, "soft_enabled": True, "soft_preservation_strength": 1.5,
              "soft_mask_influence": 0.25}
    assert request_from_form("inpaint", ticked).soft_inpainting == SoftInpainting(preservation_strength=1.5,
                                                                                  mask_influence=0.25)
    assert request_from_form("inpaint", {**ticked, "soft_enabled": False}).soft_inpainting is None
    assert request_from_form("img2img", {**ticked, "init_img": PHOTO}).soft_inpainting is None
