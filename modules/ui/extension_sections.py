"""Extension sections inside the txt2img and img2img panels, and the Script chooser.

Each section's components are read at Generate and travel by name, never by position: the value of the
component an extension returned under `key` reaches the core as request.extra[<extension name>][key], and
the chosen script as request.extra["script"].
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.extension_api import SCRIPT_KEY, SectionContext

if TYPE_CHECKING:
    from modules.service.services import Services

NO_SCRIPT = "None"


@dataclass
class PanelSections:
    panel: str
    fields: list[tuple[str, str, Any]] = field(default_factory=list)  # (extension, key, component)
    script: Any = None  # the Script dropdown, when any extension has a script
    script_names: dict[str, str] = field(default_factory=dict)  # title -> extension name

    @property
    def components(self) -> list[Any]:
        return [c for _, _, c in self.fields] + ([self.script] if self.script is not None else [])

    def extra(self, values: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
        """request.extra from the values of `components`, in their order."""
        return self.extra_from(dict(zip(self.components, values)))

    def extra_from(self, data: dict[Any, Any]) -> dict[str, Any]:
        """request.extra from a {component: value} mapping (Gradio's form when inputs are a set)."""
        extra: dict[str, Any] = {}
        for name, key, component in self.fields:
            if component in data:
                extra.setdefault(name, {})[key] = data[component]
        if self.script is not None:
            chosen = data.get(self.script)
            if chosen and chosen != NO_SCRIPT:
                extra[SCRIPT_KEY] = self.script_names.get(chosen, chosen)
        return extra

    def wrap(self, handler: Callable[..., Iterator[Any]], count: int) -> Callable[..., Iterator[Any]]:
        """A handler taking the panel's `count` inputs then the sections' values; `handler` gets the panel's
        inputs, `request=` and `extra=`. The request comes first so Gradio can still pass it."""

        def with_extra(request: gr.Request, *values: Any) -> Iterator[Any]:
            yield from handler(*values[:count], request=request, extra=self.extra(values[count:]))

        return with_extra


def build(services: Services, panel: str, prompt: Any = None, negative_prompt: Any = None) -> PanelSections:
    """Build every loaded extension's section for this panel (each in an accordion) and the Script chooser."""
    host = services.extensions
    out = PanelSections(panel)
    for ext, section in host.contributions("sections"):
        if panel not in section.panels:
            continue
        with gr.Accordion(section.title, open=False, elem_id=f"{panel}_ext_{ext.name}"):
            ctx = SectionContext(name=ext.name, panel=panel, settings=ext.api.settings, prompt=prompt,
                                 negative_prompt=negative_prompt, upscaler_names=services.upscalers.names)
            ok, components = host.guarded(ext, "building its section", section.builder, ctx)
            if not ok:
                gr.Markdown(f"This section failed to build: {ext.error}. See the Extensions tab.")
                continue
            for key, component in (components or {}).items():
                out.fields.append((ext.name, str(key), component))
    scripts = [s for s in host.scripts() if panel in s.panels]  # A1111's Script.show(is_img2img)
    if scripts:
        out.script_names = {s.title: s.name for s in scripts}
        out.script = gr.Dropdown([NO_SCRIPT, *out.script_names], value=NO_SCRIPT, label="Script",
                                 elem_id=f"{panel}_script")
    return out
