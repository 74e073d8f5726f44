"""The "VAE / Text encoder" choice beside the checkpoint (Forge's): the text-encoder and VAE files a transformer file
(Flux, SD 3.x, Chroma, Z-Image, Qwen-Image, GGUF) runs with. Choosing a checkpoint pre-selects the files that fit it
(one of each kind, as the engine would pick them), or says which is missing and where it goes; "Send to txt2img"
restores the files a picture was made with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.service.services import Services

LABEL = "VAE / Text encoder"


def choices(services: Services) -> list[str]:
    return [m.name for m in services.models.modules if m.usable]


def preselected(services: Services, checkpoint: str | None, current: Iterable[str] = ()) -> tuple[list[str], str]:
    """The files for a checkpoint: the current choice when it fits (a picture's files sent to txt2img), else those
    that fit (none for a checkpoint that carries its own), and why none can be chosen."""
    try:
        info = services.models.resolve(checkpoint or None)
    except LookupError:
        return [], ""
    if not info.takes_parts:  # transformer files, safetensors or GGUF
        return [], ""
    if current:
        try:
            services.models.with_parts(info, tuple(current))
            return list(current), ""
        except Exception:  # noqa: BLE001 - it does not fit this checkpoint: the fitting files replace it
            pass
    try:
        parts = services.models.with_parts(info).parts
    except Exception as exc:  # noqa: BLE001 - the engine's message names the missing file: shown, not raised
        return [], str(exc)
    return [m.name for m in parts if m.path != info.path], ""


def build(services: Services, tab: str, checkpoint: str | None = None) -> Any:
    """The multiselect, with the files that fit the checkpoint shown first already chosen."""
    chosen, problem = preselected(services, checkpoint)
    return gr.Dropdown(choices(services), value=chosen, multiselect=True, label=LABEL, elem_id=f"{tab}_modules",
                       scale=3, info=_info(problem))


def _info(problem: str) -> str:
    if problem:
        return f"⚠️ {problem}"
    return "Text encoders and VAE for a checkpoint without them (transformer files: Flux, SD 3.x, Chroma, Z-Image...)"


def connect(services: Services, checkpoint: Any, modules: Any) -> None:
    """A new checkpoint pre-selects its files (and refreshes the list: Refresh may have found new ones)."""

    def pick(name: str | None, current: list[str] | None):
        chosen, problem = preselected(services, name, current or ())
        return gr.update(choices=choices(services), value=chosen, info=_info(problem))

    checkpoint.change(pick, inputs=[checkpoint, modules], outputs=[modules], queue=False)


def field(value: Iterable[str] | None) -> tuple[str, ...]:
    """The request's additional_modules from the multiselect's value."""
    return tuple(value or ())


def update_from(services: Services, values: dict[str, Any]) -> tuple[Any, str]:
    """"Send to txt2img": the files the infotext names (Forge's "Module N"; none for a picture without them), and a
    note naming those that are not here (the list offers only files it has)."""
    from modules.core.additional_modules import file_name

    here = {}
    for module in services.models.modules:
        here[module.name] = here[module.path.stem] = module.name  # Forge may write the name without ".safetensors"
    wanted = [file_name(n) for n in values.get("additional_modules", ())]
    missing = [n for n in wanted if n not in here]
    note = f" VAE / Text encoder file(s) {', '.join(missing)} are not here; put them in models/text_encoder or " \
           "models/VAE." if missing else ""
    return gr.update(choices=choices(services), value=[here[n] for n in wanted if n in here]), note
