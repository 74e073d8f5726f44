"""The txt2img tab: builds a GenerationRequest from the form, submits it as a job, streams progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.core.requests import GenerationRequest
from modules.engine.samplers import SCHEDULE_TYPES
from modules.ui import controlnet_panel, extension_sections, hires_panel, jobstream, user_defaults
from modules.ui.jobstream import status_html, user_of


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
    controlnet: Any = None  # controlnet_panel.ControlNetPanel (the History tab's "Send to ControlNet")
    hires: Any = None  # hires_panel.HiresPanel (PNG Info / History "Send to txt2img" fill it)


def checkpoint_choices(services: Any) -> tuple[list[str], str | None, str]:
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


def kept_choice(services: Any, current: str | None, fallback: str | None) -> str | None:
    """After a rescan, the title of the checkpoint the user had chosen (titles change once a hash is known)."""
    found = services.models.checkpoints.find(current or "")
    return found.title if found is not None and found.usable else fallback


def build(services: Any) -> Txt2ImgTab:
    defaults = services.model_defaults()
    samplers = services.samplers.names()
    choices, selected, note = checkpoint_choices(services)
    with gr.Row():
        checkpoint = gr.Dropdown(choices, value=selected, label="Checkpoint", elem_id="txt2img_checkpoint", scale=4)
        vae = gr.Dropdown(["Automatic"] + [v.name for v in services.models.vaes], value="Automatic", label="VAE",
                          elem_id="txt2img_vae", scale=2)
        refresh = gr.Button("🔄", elem_id="txt2img_refresh", scale=0, min_width=48)
    checkpoint_note = gr.Markdown(note, elem_id="txt2img_checkpoint_note")
    user_defaults.connect(services, checkpoint)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, value=defaults.get("prompt", ""), elem_id="txt2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="txt2img_neg_prompt",
                                  value=defaults.get("negative_prompt",
                                                     services.ui_settings.get("default_negative_prompt") or ""))
        with gr.Column(scale=1, min_width=160):
            generate_btn = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
            with gr.Row():
                interrupt_btn = gr.Button("Interrupt", elem_id="txt2img_interrupt")
                skip_btn = gr.Button("Skip", elem_id="txt2img_skip")
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                sampler = gr.Dropdown(samplers, value=defaults.get("sampler", "Euler a"), label="Sampling method",
                                      elem_id="txt2img_sampler")
                schedule_type = gr.Dropdown(list(SCHEDULE_TYPES), value="Automatic", label="Schedule type", elem_id="txt2img_scheduler")
            steps = gr.Slider(1, 150, value=defaults.get("steps", 20), step=1, label="Sampling steps",
                              elem_id="txt2img_steps")
            with gr.Row():
                width = gr.Slider(8, 2048, value=defaults.get("width", 512), step=8, label="Width",
                                  elem_id="txt2img_width")
                height = gr.Slider(8, 2048, value=defaults.get("height", 512), step=8, label="Height",
                                   elem_id="txt2img_height")
            with gr.Row():
                batch_count = gr.Slider(1, 100, value=1, step=1, label="Batch count", elem_id="txt2img_batch_count")
                batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="txt2img_batch_size")
            cfg_scale = gr.Slider(0, 30, value=defaults.get("cfg_scale", 7.0), step=0.5, label="CFG Scale",
                                  elem_id="txt2img_cfg_scale")
            with gr.Row():
                seed = gr.Number(value=-1, precision=0, label="Seed", elem_id="txt2img_seed", scale=3)
                random_seed = gr.Button("🎲", elem_id="txt2img_random_seed", scale=0, min_width=48)
                reuse_seed = gr.Button("♻️", elem_id="txt2img_reuse_seed", scale=0, min_width=48)
            with gr.Accordion("Variation seed and more", open=False):
                subseed = gr.Number(value=-1, precision=0, label="Variation seed", elem_id="txt2img_subseed")
                subseed_strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength",
                                             elem_id="txt2img_subseed_strength")
                clip_skip = gr.Slider(1, 12, value=1, step=1, label="Clip skip", elem_id="txt2img_clip_skip")
            sections = extension_sections.build(services, "txt2img", prompt, negative)
        with gr.Column(scale=1):
            status = gr.HTML(status_html("Ready."), elem_id="txt2img_status")
            preview = gr.Image(label="Preview", interactive=False, visible=True, elem_id="txt2img_preview",
                               format="png", height=160)
            gallery = gr.Gallery(label="Output", format="png", columns=2, object_fit="contain", height="auto",
                                 elem_id="txt2img_gallery", preview=True)
            with gr.Row():
                send_img2img = gr.Button("Send to img2img", elem_id="txt2img_send_to_img2img", size="sm")
                send_inpaint = gr.Button("Send to inpaint", elem_id="txt2img_send_to_inpaint", size="sm")
            info = gr.Textbox(label="Generation parameters", lines=4, interactive=False, elem_id="txt2img_info")
    job_id = gr.State(None)
    selected = gr.State(0)

    def remember(evt: gr.SelectData) -> int:
        return evt.index

    gallery.select(remember, outputs=[selected], queue=False)
    last_seed = gr.State(-1)

    controlnet = controlnet_panel.build(services, "txt2img", width, height)
    hires = hires_panel.build(services, "txt2img", defaults.get("cfg_scale", 7.0))
    form = {"prompt": prompt, "negative": negative, "sampler": sampler, "schedule": schedule_type, "steps": steps,
            "cfg": cfg_scale, "width": width, "height": height, "seed": seed, "subseed": subseed,
            "strength": subseed_strength, "count": batch_count, "size": batch_size, "clip_skip": clip_skip,
            "checkpoint": checkpoint, "vae": vae}
    inputs = set(form.values()) | controlnet.inputs() | set(sections.components) | hires.inputs()

    def run(data: dict, request: gr.Request):
        v = {name: data[component] for name, component in form.items()}
        req = GenerationRequest(
            prompt=v["prompt"] or "", negative_prompt=v["negative"] or "", sampler=v["sampler"],
            schedule_type=v["schedule"], steps=v["steps"], cfg_scale=v["cfg"], width=v["width"], height=v["height"],
            seed=-1 if v["seed"] is None else v["seed"], subseed=-1 if v["subseed"] is None else v["subseed"],
            subseed_strength=v["strength"], batch_count=v["count"], batch_size=v["size"], clip_skip=v["clip_skip"],
            checkpoint=v["checkpoint"] or None, vae=v["vae"] or "Automatic",
            control_units=controlnet.control_units(data), extra=sections.extra_from(data),
            **hires.fields(data, v["cfg"]))
        for update in jobstream.follow(services, req, user_of(request)):
            yield update.values()

    generate_btn.click(run, inputs=inputs, outputs=[job_id, status, preview, gallery, info, last_seed],
                       concurrency_limit=None, show_progress="hidden")
    prompt.submit(run, inputs=inputs, outputs=[job_id, status, preview, gallery, info, last_seed],
                  concurrency_limit=None, show_progress="hidden")

    def interrupt(job: str | None, request: gr.Request):
        if job:
            services.jobs.interrupt(job, user_of(request))

    def skip(job: str | None, request: gr.Request):
        if job:
            services.jobs.skip(job, user_of(request))

    interrupt_btn.click(interrupt, inputs=[job_id], outputs=None, queue=False)
    skip_btn.click(skip, inputs=[job_id], outputs=None, queue=False)
    random_seed.click(lambda: -1, outputs=[seed], queue=False)
    reuse_seed.click(lambda s: s, inputs=[last_seed], outputs=[seed], queue=False)

    def do_refresh(current: str | None):
        services.models.refresh()
        choices_, selected_, note_ = checkpoint_choices(services)
        keep = kept_choice(services, current, selected_)
        return (gr.update(choices=choices_, value=keep),
                gr.update(choices=["Automatic"] + [v.name for v in services.models.vaes]), note_)

    refresh.click(do_refresh, inputs=[checkpoint], outputs=[checkpoint, vae, checkpoint_note])
    return Txt2ImgTab(prompt=prompt, negative_prompt=negative, sampler=sampler, schedule_type=schedule_type,
                      steps=steps, cfg_scale=cfg_scale, width=width, height=height, seed=seed, subseed=subseed,
                      subseed_strength=subseed_strength, clip_skip=clip_skip, checkpoint=checkpoint, vae=vae,
                      gallery=gallery, selected=selected, send_img2img=send_img2img, send_inpaint=send_inpaint,
                      controlnet=controlnet, hires=hires)
