"""The Extras tab: upscale one picture, a batch of uploads, or a folder (local use only) as a queued job."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.core.requests import RequestError
from modules.engine.extras import ExtrasRequest, images_from_folder
from modules.service.jobs import FAILED, QueueFull
from modules.ui import face_restoration
from modules.ui.jobstream import POLL_SECONDS, status_html, user_of
from modules.ui.outputs_view import output_gallery, saved_html

if TYPE_CHECKING:
    from modules.service.services import Services

SINGLE, BATCH, FOLDER = "single", "batch", "folder"


@dataclass(frozen=True)
class ExtrasTab:
    """What a send fills in the Extras tab: its single-picture box, the source tabs and the chosen source."""

    image: Any
    source_tabs: Any
    source: Any  # gr.State: which source Generate reads
    single: str  # the id of the "Single Image" source tab, and the source value it stands for


def unsupported_note(services: Services) -> str:
    bad = services.upscalers.unsupported()
    if not bad:
        return ""
    return "Not usable: " + "; ".join(f"`{html.escape(path)}`: {html.escape(reason)}" for path, reason in bad)


def pictures_for(source: str, single: Image.Image | None, files: list[Any] | None, folder: str,
                 folders_allowed: bool) -> tuple[list[Image.Image], list[str]]:
    """The pictures of the chosen source, with their names."""
    if source == SINGLE:
        if single is None:
            raise RequestError("Upload a picture first.")
        return [single], ["image"]
    if source == BATCH:
        images, names = [], []
        for file in files or []:
            path = getattr(file, "name", file)
            try:
                with Image.open(path) as opened:
                    opened.load()
                    images.append(opened.copy())
                names.append(str(path).rsplit("/", 1)[-1])
            except (OSError, SyntaxError, Image.DecompressionBombError):
                raise RequestError(f"{str(path).rsplit('/', 1)[-1]} is not a picture.") from None
        if not images:
            raise RequestError("Upload one or more pictures first.")
        return images, names
    if not folders_allowed:
        raise RequestError("Batch from a folder is only available on a server without accounts (it reads the "
                           "server's own disk). Upload the pictures instead.")
    return images_from_folder(folder)


def build(services: Services) -> ExtrasTab:
    registry = services.upscalers
    folders_allowed = not services.per_user_outputs
    source = gr.State(SINGLE)
    mode = gr.State(0)
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tabs(elem_id="extras_source") as source_tabs:
                with gr.Tab("Single Image", id=SINGLE, elem_id="extras_single_tab") as tab_single:
                    single = gr.Image(type="pil", label="Source", elem_id="extras_image", image_mode=None)
                with gr.Tab("Batch Process", elem_id="extras_batch_tab") as tab_batch:
                    files = gr.File(file_count="multiple", label="Batch Process", elem_id="extras_image_batch")
                with gr.Tab("Batch from Directory", elem_id="extras_folder_tab", visible=folders_allowed) as tab_folder:
                    folder = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir")
            with gr.Tabs(elem_id="extras_resize_mode"):
                with gr.Tab("Scale by", elem_id="extras_scale_by_tab") as tab_by:
                    scale = gr.Slider(1.0, 8.0, value=4, step=0.05, label="Resize", elem_id="extras_upscaling_resize")
                with gr.Tab("Scale to", elem_id="extras_scale_to_tab") as tab_to:
                    with gr.Row():
                        width = gr.Slider(64, 8192, value=512, step=8, label="Width", elem_id="extras_upscaling_resize_w")
                        height = gr.Slider(64, 8192, value=512, step=8, label="Height", elem_id="extras_upscaling_resize_h")
                    crop = gr.Checkbox(label="Crop to fit", value=True, elem_id="extras_upscaling_crop")
            with gr.Row():
                upscaler_1 = gr.Dropdown(registry.names(), value="Lanczos", label="Upscaler 1", elem_id="extras_upscaler_1")
                refresh = gr.Button("🔄", elem_id="extras_refresh", scale=0, min_width=48)
            with gr.Row():
                upscaler_2 = gr.Dropdown(registry.names(), value="None", label="Upscaler 2", elem_id="extras_upscaler_2")
                visibility = gr.Slider(0, 1, value=0, step=0.001, label="Upscaler 2 visibility",
                                       elem_id="extras_upscaler_2_visibility")
            gfpgan, codeformer, codeformer_weight = face_restoration.extras_sliders()
            note = gr.Markdown(unsupported_note(services), elem_id="extras_unsupported")
            run_btn = gr.Button("Generate", variant="primary", elem_id="extras_generate")
        with gr.Column(scale=1):
            status = gr.HTML(status_html("Ready."), elem_id="extras_status")
            gallery = output_gallery("extras_gallery", label="Result", columns=2, object_fit="contain", height="auto")
            info = gr.HTML(elem_id="extras_html_info")

    tab_single.select(lambda: SINGLE, outputs=[source], queue=False)
    tab_batch.select(lambda: BATCH, outputs=[source], queue=False)
    tab_folder.select(lambda: FOLDER, outputs=[source], queue=False)
    tab_by.select(lambda: 0, outputs=[mode], queue=False)
    tab_to.select(lambda: 1, outputs=[mode], queue=False)

    def run(source_: str, single_: Any, files_: Any, folder_: str, mode_: int, scale_: float, width_: int,
            height_: int, crop_: bool, up1: str, up2: str, vis: float, gfpgan_: float, codeformer_: float,
            weight_: float, request: gr.Request):
        try:
            images, names = pictures_for(source_, single_, files_, folder_, folders_allowed)
            job = services.submit(ExtrasRequest(
                init_images=tuple(images), names=tuple(names), resize_mode=mode_, upscaling_resize=scale_,
                upscaling_resize_w=width_, upscaling_resize_h=height_, upscaling_crop=crop_, upscaler_1=up1,
                upscaler_2=up2, extras_upscaler_2_visibility=vis, gfpgan_visibility=gfpgan_,
                codeformer_visibility=codeformer_, codeformer_weight=weight_), user_of(request))
        except (RequestError, LookupError, ValueError, QueueFull) as exc:
            yield status_html(f"Error: {exc}", error=True), gr.update(), ""
            return
        while not job.done.wait(POLL_SECONDS):
            done = job.progress.batch_index + 1 if job.progress else 0
            yield status_html(f"Upscaling: {done}/{len(images)} done", job.fraction), gr.update(), ""
        if job.status == FAILED or job.result is None:
            yield status_html(f"Error: {job.error or 'cancelled'}", error=True), gr.update(), ""
            return
        result = job.result
        shown = list(result.paths) or result.images
        text = "<br>".join(html.escape(t) for t in result.postprocessing[:1] + result.warnings)
        saved = saved_html(result.paths, services.outputs.root)
        yield status_html(f"Done: {len(result.images)} picture(s).", 1.0, after=saved), shown, text

    run_btn.click(run, inputs=[source, single, files, folder, mode, scale, width, height, crop, upscaler_1,
                               upscaler_2, visibility, gfpgan, codeformer, codeformer_weight],
                  outputs=[status, gallery, info], concurrency_limit=None,
                  show_progress="hidden")

    def do_refresh():
        registry.refresh()
        names = registry.names()
        return gr.update(choices=names), gr.update(choices=names), unsupported_note(services)

    refresh.click(do_refresh, outputs=[upscaler_1, upscaler_2, note])
    return ExtrasTab(image=single, source_tabs=source_tabs, source=source, single=SINGLE)
