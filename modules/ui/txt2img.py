"""The txt2img tab: builds a GenerationRequest from the form, submits it as a job, streams progress.

`build` lays the tab out (the model row, the prompts, the settings column, the output column, then the ControlNet
and Hires. fix panels), collects what makes the request in a `_Form` (form -> request) and wires the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.requests import GenerationRequest
from modules.engine.samplers import SCHEDULE_TYPES
from modules.ui import (
    controlnet_panel,
    detailer_panel,
    regions_panel,
    extension_sections,
    face_restoration,
    hires_panel,
    jobstream,
    modules_select,
    refiner_panel,
    send_row,
    step_cache_panel,
    user_defaults,
    wildcards_panel,
)
from modules.ui.jobstream import status_html, user_of
from modules.ui.outputs_view import SHOWN_BUTTONS, output_gallery

if TYPE_CHECKING:
    from modules.service.services import Services


@dataclass
class Txt2ImgTab:
    """The components other tabs fill (PNG Info's "send to txt2img")."""

    prompt: Any
    negative_prompt: Any
    sampler: Any
    schedule_type: Any
    steps: Any
    cfg_scale: Any
    width: Any
    height: Any
    seed: Any
    subseed: Any
    subseed_strength: Any
    clip_skip: Any
    checkpoint: Any
    vae: Any
    gallery: Any = None
    selected: Any = None  # gr.State: the gallery index last clicked (for "Send to")
    send_img2img: Any = None
    send_inpaint: Any = None
    send_extras: Any = None  # picture-only sends, wired by send_to.connect
    send_controlnet: Any = None
    controlnet: controlnet_panel.ControlNetPanel | None = None  # the History tab's "Send to ControlNet" fills it
    hires: hires_panel.HiresPanel | None = None  # PNG Info / History "Send to txt2img" fill it
    refiner: refiner_panel.RefinerPanel | None = None  # they fill it too
    restore_faces: Any = None  # checked by "Send to txt2img" when the picture's infotext has "Face restoration"
    detailer: detailer_panel.DetailerPanel | None = None  # ADetailer's units; "Send to txt2img" fills them too
    regions: regions_panel.RegionsPanel | None = None  # "Send to txt2img" fills it too
    distilled_cfg_scale: Any = None  # Forge's "Distilled CFG Scale" (Flux dev); "Send to txt2img" fills it
    step_cache: step_cache_panel.StepCachePanel | None = None  # "Send to txt2img" fills it too
    additional_modules: Any = None  # "VAE / Text encoder": "Send to txt2img" fills it from "Module N"


def checkpoint_choices(services: Services) -> tuple[list[str], str | None, str]:
    usable = services.models.checkpoints.usable()
    default = services.models.default_checkpoint()
    note = ""
    if default is not None and default.family == "demo":
        note = ("No checkpoint of your own was found in models/Stable-diffusion, so the bundled demo model "
                "**demo-shapes** is selected: it draws simple coloured shapes (try *a large red circle on a blue "
                "background*). Add your .safetensors checkpoints there and press 🔄.")
    elif default is None:
        note = "**No usable checkpoint found.** Put a checkpoint in models/Stable-diffusion and press 🔄."
    unusable = [i for i in services.models.checkpoints.all() if not i.usable]
    if unusable:
        note += "\n\nNot usable: " + "; ".join(f"`{i.name}`: {i.error}" for i in unusable)
    return [i.title for i in usable], (default.title if default else None), note


def kept_choice(services: Services, current: str | None, fallback: str | None) -> str | None:
    """After a rescan, the title of the checkpoint the user had chosen (titles change once a hash is known)."""
    found = services.models.checkpoints.find(current or "")
    return found.title if found is not None and found.usable else fallback


# ------------------------------------------------------------------------------------------ form -> request
DISTILLED_DEFAULT = 3.5  # Flux-dev's and Forge's default; the slider at it sends none: the model's default applies


def distilled_from_form(value: Any) -> float | None:
    """The request's distilled guidance: None at the default, so models without a guidance embedding (SD, schnell)
    are not warned about a value nobody chose."""
    return None if value is None or value == DISTILLED_DEFAULT else value


def request_from_form(values: Mapping[str, Any], **more: Any) -> GenerationRequest:
    """The request the form's plain values describe (keyed by GenerationRequest field names); `more` adds the
    ControlNet units, the extensions' values and the hires fields. Values are checked later by `validate`."""
    seed, subseed = values["seed"], values["subseed"]
    return GenerationRequest(
        prompt=values["prompt"] or "", negative_prompt=values["negative_prompt"] or "", sampler=values["sampler"],
        schedule_type=values["schedule_type"], steps=values["steps"], cfg_scale=values["cfg_scale"],
        width=values["width"], height=values["height"], seed=-1 if seed is None else seed,
        subseed=-1 if subseed is None else subseed, subseed_strength=values["subseed_strength"],
        batch_count=values["batch_count"], batch_size=values["batch_size"], clip_skip=values["clip_skip"],
        checkpoint=values["checkpoint"] or None, vae=values["vae"] or "Automatic",
        distilled_cfg_scale=distilled_from_form(values.get("distilled_cfg_scale")),
        additional_modules=modules_select.field(values.get("additional_modules")), **more)


@dataclass
class _Form:
    """The widgets whose values make the request: `fields` by request field name, and the panels."""

    fields: dict[str, Any]
    controlnet: controlnet_panel.ControlNetPanel
    hires: hires_panel.HiresPanel
    sections: extension_sections.PanelSections
    refiner: refiner_panel.RefinerPanel | None = None
    detailer: detailer_panel.DetailerPanel | None = None  # its components are in `fields` too
    regions: regions_panel.RegionsPanel | None = None  # its components are in `fields` too
    step_cache: step_cache_panel.StepCachePanel | None = None

    def inputs(self) -> set[Any]:
        return (set(self.fields.values()) | self.controlnet.inputs() | set(self.sections.components)
                | self.hires.inputs() | (self.refiner.inputs() if self.refiner else set())
                | (self.step_cache.inputs() if self.step_cache else set()))

    def request(self, data: dict[Any, Any]) -> GenerationRequest:
        """The request from Gradio's submitted form ({component: value}: `inputs()` is a set)."""
        values = {name: data[component] for name, component in self.fields.items()}
        return request_from_form(values, control_units=self.controlnet.control_units(data),
                                 restore_faces=bool(values.get("restore_faces")),
                                 extra={**self.sections.extra_from(data), **wildcards_panel.extra_from(values)},
                                 **self.hires.fields(data, values["cfg_scale"]),
                                 **(self.refiner.fields(data) if self.refiner else {}),
                                 **(self.step_cache.fields(data) if self.step_cache else {}),
                                 detailer=self.detailer.units_from(values) if self.detailer else (),
                                 regions=self.regions.regions_from(values, values["width"], values["height"])
                                 if self.regions else ())


# ------------------------------------------------------------------------------------------ layout
@dataclass
class _ModelRow:
    checkpoint: Any
    vae: Any
    refresh: Any
    note: Any
    modules: Any = None  # "VAE / Text encoder" (modules_select)


def _model_row(services: Services) -> _ModelRow:
    """The checkpoint and VAE dropdowns, 🔄 and the note on unusable checkpoints; the user's default is kept."""
    choices, selected, note = checkpoint_choices(services)
    with gr.Row():
        checkpoint = gr.Dropdown(choices, value=selected, label="Checkpoint", elem_id="txt2img_checkpoint", scale=4)
        vae = gr.Dropdown(["Automatic"] + [v.name for v in services.models.vaes], value="Automatic", label="VAE",
                          elem_id="txt2img_vae", scale=2)
        modules = modules_select.build(services, "txt2img", selected)
        refresh = gr.Button("🔄", elem_id="txt2img_refresh", scale=0, min_width=48)
    checkpoint_note = gr.Markdown(note, elem_id="txt2img_checkpoint_note")
    user_defaults.connect(services, checkpoint)
    modules_select.connect(services, checkpoint, modules)
    return _ModelRow(checkpoint, vae, refresh, checkpoint_note, modules)


@dataclass
class _PromptRow:
    prompt: Any
    negative: Any
    generate: Any
    interrupt: Any
    skip: Any


def _prompt_row(services: Services, defaults: dict[str, Any]) -> _PromptRow:
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, value=defaults.get("prompt", ""), elem_id="txt2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="txt2img_neg_prompt",
                                  value=defaults.get("negative_prompt",
                                                     services.ui_settings.get("default_negative_prompt") or ""))
        with gr.Column(scale=1, min_width=160):
            generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id="txt2img_interrupt")
                skip = gr.Button("Skip", elem_id="txt2img_skip")
    return _PromptRow(prompt, negative, generate, interrupt, skip)


@dataclass
class _Settings:
    sampler: Any
    schedule_type: Any
    steps: Any
    width: Any
    height: Any
    batch_count: Any
    batch_size: Any
    cfg_scale: Any
    seed: Any
    random_seed: Any
    reuse_seed: Any
    subseed: Any
    subseed_strength: Any
    clip_skip: Any
    distilled_cfg_scale: Any

    def fields(self) -> dict[str, Any]:
        """The settings that go into the request, by request field name."""
        return {"sampler": self.sampler, "schedule_type": self.schedule_type, "steps": self.steps,
                "cfg_scale": self.cfg_scale, "width": self.width, "height": self.height, "seed": self.seed,
                "subseed": self.subseed, "subseed_strength": self.subseed_strength, "batch_count": self.batch_count,
                "batch_size": self.batch_size, "clip_skip": self.clip_skip,
                "distilled_cfg_scale": self.distilled_cfg_scale}


def _settings(services: Services, defaults: dict[str, Any]) -> _Settings:
    with gr.Row():
        sampler = gr.Dropdown(services.samplers.names(), value=defaults.get("sampler", "Euler a"),
                              label="Sampling method", elem_id="txt2img_sampler")
        schedule_type = gr.Dropdown(list(SCHEDULE_TYPES), value="Automatic", label="Schedule type",
                                    elem_id="txt2img_scheduler")
    steps = gr.Slider(1, 150, value=defaults.get("steps", 20), step=1, label="Sampling steps", elem_id="txt2img_steps")
    with gr.Row():
        width = gr.Slider(8, 2048, value=defaults.get("width", 512), step=8, label="Width", elem_id="txt2img_width")
        height = gr.Slider(8, 2048, value=defaults.get("height", 512), step=8, label="Height",
                           elem_id="txt2img_height")
    with gr.Row():
        batch_count = gr.Slider(1, 100, value=1, step=1, label="Batch count", elem_id="txt2img_batch_count")
        batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="txt2img_batch_size")
    cfg_scale = gr.Slider(0, 30, value=defaults.get("cfg_scale", 7.0), step=0.5, label="CFG Scale",
                          elem_id="txt2img_cfg_scale")
    distilled = gr.Slider(0, 30, value=DISTILLED_DEFAULT, step=0.1, label="Distilled CFG Scale",
                          info="Flux dev, Kontext and Fill: the guidance their embedding takes (Forge's control)",
                          elem_id="txt2img_distilled_cfg_scale")
    with gr.Row():
        seed = gr.Number(value=-1, precision=0, label="Seed", elem_id="txt2img_seed", scale=3)
        random_seed = gr.Button("🎲", elem_id="txt2img_random_seed", scale=0, min_width=48)
        reuse_seed = gr.Button("♻️", elem_id="txt2img_reuse_seed", scale=0, min_width=48)
    with gr.Accordion("Variation seed and more", open=False):
        subseed = gr.Number(value=-1, precision=0, label="Variation seed", elem_id="txt2img_subseed")
        subseed_strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength",
                                     elem_id="txt2img_subseed_strength")
        clip_skip = gr.Slider(1, 12, value=1, step=1, label="Clip skip", elem_id="txt2img_clip_skip")
    return _Settings(sampler, schedule_type, steps, width, height, batch_count, batch_size, cfg_scale, seed,
                     random_seed, reuse_seed, subseed, subseed_strength, clip_skip, distilled)


@dataclass
class _Output:
    status: Any
    preview: Any
    gallery: Any
    send_img2img: Any
    send_inpaint: Any
    info: Any
    send_extras: Any = None
    send_controlnet: Any = None


def _output_column() -> _Output:
    status = gr.HTML(status_html("Ready."), elem_id="txt2img_status")
    preview = gr.Image(label="Preview", interactive=False, visible=True, elem_id="txt2img_preview", format="png",
                       height=160, buttons=SHOWN_BUTTONS)
    gallery = output_gallery("txt2img_gallery", columns=2, object_fit="contain", height="auto", preview=True)
    buttons = send_row.send_buttons("txt2img", ("img2img", "inpaint", "extras", "controlnet"))
    info = gr.Textbox(label="Generation parameters", lines=4, interactive=False, elem_id="txt2img_info")
    return _Output(status, preview, gallery, buttons["img2img"], buttons["inpaint"], info, buttons["extras"],
                   buttons["controlnet"])


# ------------------------------------------------------------------------------------------ build and wire
def build(services: Services) -> Txt2ImgTab:
    defaults = services.model_defaults()
    model = _model_row(services)
    prompts = _prompt_row(services, defaults)
    with gr.Row():
        with gr.Column(scale=1):
            settings = _settings(services, defaults)
            restore_faces = face_restoration.checkbox("txt2img")
            wildcards_mode = wildcards_panel.build("txt2img")
            sections = extension_sections.build(services, "txt2img", prompts.prompt, prompts.negative)
        with gr.Column(scale=1):
            output = _output_column()
    job_id, selected = gr.State(None), gr.State(0)
    output.gallery.select(remember, outputs=[selected], queue=False)
    last_seed = gr.State(-1)

    controlnet = controlnet_panel.build(services, "txt2img", settings.width, settings.height)
    hires = hires_panel.build(services, "txt2img", defaults.get("cfg_scale", 7.0))
    refiner = refiner_panel.build(services, "txt2img")
    step_cache = step_cache_panel.build("txt2img")
    detailer = detailer_panel.build(services, "txt2img")
    form = _Form({"prompt": prompts.prompt, "negative_prompt": prompts.negative, **settings.fields(),
                  "checkpoint": model.checkpoint, "vae": model.vae, "additional_modules": model.modules,
                  "restore_faces": restore_faces,
                  **detailer.components, wildcards_panel.FIELD: wildcards_mode}, controlnet, hires, sections, refiner,
                 detailer)
    form.regions = regions_panel.build("txt2img", settings.width, settings.height)
    form.fields.update(form.regions.components)
    form.step_cache = step_cache
    _wire_generate(services, form, prompts, output, job_id, last_seed)
    _wire_controls(services, model, prompts, settings, job_id, last_seed)
    return Txt2ImgTab(prompt=prompts.prompt, negative_prompt=prompts.negative, sampler=settings.sampler,
                      schedule_type=settings.schedule_type, steps=settings.steps, cfg_scale=settings.cfg_scale,
                      width=settings.width, height=settings.height, seed=settings.seed, subseed=settings.subseed,
                      subseed_strength=settings.subseed_strength, clip_skip=settings.clip_skip,
                      checkpoint=model.checkpoint, vae=model.vae, gallery=output.gallery, selected=selected,
                      send_img2img=output.send_img2img, send_inpaint=output.send_inpaint,
                      send_extras=output.send_extras, send_controlnet=output.send_controlnet, controlnet=controlnet,
                      hires=hires, refiner=refiner, restore_faces=restore_faces, detailer=detailer,
                      regions=form.regions, distilled_cfg_scale=settings.distilled_cfg_scale, step_cache=step_cache,
                      additional_modules=model.modules)


def remember(evt: gr.SelectData) -> int:
    """The gallery index last clicked: the picture "Send to img2img / inpaint" sends."""
    return evt.index


def _wire_generate(services: Services, form: _Form, prompts: _PromptRow, output: _Output, job_id: Any,
                   last_seed: Any) -> None:
    """Generate (the button, or Enter in the prompt): submit the form's request and stream the job."""

    def run(data: dict, request: gr.Request):
        job = face_restoration.with_settings(services, form.request(data), user_of(request))
        for update in jobstream.follow(services, job, user_of(request)):
            yield update.values()

    outputs = [job_id, output.status, output.preview, output.gallery, output.info, last_seed]
    # "multiple": a click while a job runs queues another job (Gradio's default "once" dropped it silently).
    for event in (prompts.generate.click, prompts.prompt.submit):
        event(run, inputs=form.inputs(), outputs=outputs, concurrency_limit=None, show_progress="hidden",
              trigger_mode="multiple")


def _wire_controls(services: Services, model: _ModelRow, prompts: _PromptRow, settings: _Settings, job_id: Any,
                   last_seed: Any) -> None:
    """Interrupt and Skip of the running job, the seed buttons, and 🔄 (rescan the models folders)."""

    def interrupt(job: str | None, request: gr.Request):
        if job:
            services.jobs.interrupt(job, user_of(request))

    def skip(job: str | None, request: gr.Request):
        if job:
            services.jobs.skip(job, user_of(request))

    prompts.interrupt.click(interrupt, inputs=[job_id], outputs=None, queue=False)
    prompts.skip.click(skip, inputs=[job_id], outputs=None, queue=False)
    settings.random_seed.click(lambda: -1, outputs=[settings.seed], queue=False)
    settings.reuse_seed.click(lambda s: s, inputs=[last_seed], outputs=[settings.seed], queue=False)

    def do_refresh(current: str | None):
        services.models.refresh()
        choices, selected, note = checkpoint_choices(services)
        keep = kept_choice(services, current, selected)
        return (gr.update(choices=choices, value=keep),
                gr.update(choices=["Automatic"] + [v.name for v in services.models.vaes]), note)

    model.refresh.click(do_refresh, inputs=[model.checkpoint], outputs=[model.checkpoint, model.vae, model.note])
