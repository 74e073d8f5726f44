"""The img2img tab: img2img, Sketch, Inpaint, Inpaint sketch, Inpaint upload and Outpaint, with A1111's controls.

The form is read into a plain dict (`request_from_form` turns it into a GenerationRequest without Gradio), then
submitted as a job and streamed like txt2img. Sketch, Inpaint, Inpaint sketch and Outpaint draw on a
`LayeredCanvas`: the mask is the canvas's mask layer (where it was painted, never guessed from colours), the
picture is the background with the visible paint layers over it, and the upload underneath is never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image, ImageChops, UnidentifiedImageError

from modules.core.requests import (
    INPAINT_AREAS,
    MASK_MODES,
    MASKED_CONTENT,
    OUTPAINT_FILLS,
    RESIZE_MODES,
    GenerationRequest,
    RequestError,
)
from modules.engine.samplers import SCHEDULE_TYPES
from modules.ui import (
    controlnet_panel,
    detailer_panel,
    regions_panel,
    extension_sections,
    face_restoration,
    jobstream,
    modules_select,
    refiner_panel,
    send_row,
    soft_inpainting_panel,
    step_cache_panel,
    user_defaults,
    wildcards_panel,
)
from modules.ui.canvas import SKETCH_COLORS, white_page
from modules.ui.components.canvas.canvas import LayeredCanvas
from modules.ui.components.canvas.value import CanvasValue
from modules.ui.jobstream import status_html, user_of
from modules.ui.outputs_view import SHOWN_BUTTONS, output_gallery
from modules.ui.txt2img import DISTILLED_DEFAULT, Txt2ImgTab, checkpoint_choices, distilled_from_form, remember

if TYPE_CHECKING:
    from modules.service.services import Services

SUBTABS = (("img2img", "img2img"), ("sketch", "Sketch"), ("inpaint", "Inpaint"), ("inpaint_sketch", "Inpaint sketch"),
           ("inpaint_upload", "Inpaint upload"), ("outpaint", "Outpaint"))
INPAINT_TABS = frozenset({"inpaint", "inpaint_sketch", "inpaint_upload", "outpaint"})
DIRECTIONS = ("left", "right", "up", "down")
AUTO_SIZE_LIMIT = 1024  # an upload sets width/height to its size, scaled down to this on the CPU-friendly side


@dataclass
class Img2ImgTab:
    """The components other tabs fill ("Send to img2img / inpaint")."""

    subtabs: Any
    tab: Any  # gr.State: the selected sub-tab id
    init_img: Any
    inpaint: Any
    inpaint_options: Any
    prompt: Any
    negative_prompt: Any
    sampler: Any
    schedule_type: Any
    steps: Any
    cfg_scale: Any
    width: Any
    height: Any
    checkpoint: Any
    vae: Any
    gallery: Any = None
    selected: Any = None  # gr.State: the gallery index last clicked (for "Send to")
    sends: dict[str, Any] | None = None  # the "Send to" buttons by target, wired by send_to.connect
    soft: dict[str, Any] | None = None  # the Soft inpainting components by name (soft_inpainting_panel.names())
    detailer: detailer_panel.DetailerPanel | None = None  # the ADetailer accordion
    regions: regions_panel.RegionsPanel | None = None  # the Regional prompting accordion
    step_cache: step_cache_panel.StepCachePanel | None = None  # the Step cache accordion


def read_upload(payload: Any, max_side: int) -> tuple[Image.Image | None, str | None]:
    """Open an upload from Gradio's raw file payload, completely: (picture, None), or (None, why not).

    Upload events read the file themselves (preprocess=False), so a file that is not a picture, is truncated or
    is enormous gets one clear message and is taken out of the box, instead of failing every later Generate
    with Gradio's dump of the whole form."""
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)
    if not path:
        return None, None
    try:
        with Image.open(path) as image:
            if max(image.size) > max_side:
                return None, (f"the picture is {image.width}x{image.height} pixels, over the limit of {max_side} "
                              "pixels per side. Scale it down first.")
            image.load()
            return image.copy(), None
    except Image.DecompressionBombError as exc:
        return None, f"the picture is too large to open ({exc}). Scale it down first."
    except UnidentifiedImageError:
        return None, "the file is not a picture. Upload a PNG, JPEG or WebP picture."
    except (OSError, ValueError, SyntaxError) as exc:
        return None, f"the picture could not be read ({exc}); the file may be damaged or incomplete."


# ------------------------------------------------------------------------------------------ form -> request
def fit_size(picture: Image.Image | None, limit: int = AUTO_SIZE_LIMIT) -> tuple[int, int] | None:
    """A working size for an upload: its own, scaled down to `limit`, in multiples of 8."""
    if picture is None:
        return None
    scale = min(1.0, limit / max(picture.size))
    return tuple(max(8, round(side * scale / 8) * 8) for side in picture.size)  # type: ignore[return-value]


def _canvas_picture_and_mask(tab: str, value: CanvasValue | None) -> tuple[str, Image.Image, Image.Image | None]:
    """Sketch: the drawing on its page. Inpaint: the picture (with any paint layers) and the mask layer.
    Inpaint sketch: the painted colours over the picture; the mask is the mask layer when one was painted,
    otherwise where colour was painted (A1111's rule), read from the layers' alpha."""
    if tab == "sketch":
        if value is None:
            raise RequestError("The sketch canvas is empty: draw on it first.")
        return "img2img", value.composite(), None
    if value is None or value.background is None:
        raise RequestError("Upload a picture to inpaint first (drop it on the canvas), then paint over the part "
                           "to redo.")
    mask = value.mask() if value.layers_of("mask") else Image.new("L", value.size, 0)
    if tab == "inpaint_sketch" and mask.getbbox() is None:
        for layer in value.layers_of("paint"):
            if layer.visible:
                mask = ImageChops.lighter(mask, layer.painted())
    return "inpaint", value.composite(), mask


def outpaint_padding(picture: Image.Image | None) -> int | None:
    """A quarter of the picture's longer side, in multiples of 8 within the slider's 8..256: a 64 px picture
    grows by 16 px per side, a 1024 px one by 256."""
    if picture is None:
        return None
    return max(8, min(256, round(max(picture.size) * 0.25 / 8) * 8))


def _picture_and_mask(tab: str, form: dict[str, Any]) -> tuple[str, Image.Image, Image.Image | None]:
    """(mode, input picture, mask) of the selected sub-tab; RequestError says what to upload or draw."""
    if tab == "img2img":
        if form.get("init_img") is None:
            raise RequestError("Upload a picture to start from (drop it on the img2img box).")
        return "img2img", form["init_img"], None
    if tab in ("sketch", "inpaint", "inpaint_sketch"):
        return _canvas_picture_and_mask(tab, form.get(tab))
    if tab == "inpaint_upload":
        if form.get("upload_image") is None or form.get("upload_mask") is None:
            raise RequestError("Inpaint upload needs both a picture and a mask (white = repaint).")
        return "inpaint", form["upload_image"], form["upload_mask"]
    if tab == "outpaint":
        return _outpaint_picture_and_mask(form.get("outpaint_image"))
    raise RequestError(f"Unknown img2img tab {tab!r}.")


def _outpaint_picture_and_mask(value: CanvasValue | None) -> tuple[str, Image.Image, Image.Image | None]:
    """The picture to extend (with any paint layers over it) and, when its mask layer was painted, the part of
    the picture to redo as well as the new border (the engine adds it to the border's mask)."""
    if value is None or value.background is None:
        raise RequestError("Upload a picture to outpaint first (drop it on the canvas).")
    mask = value.mask() if value.layers_of("mask") else None
    return "inpaint", value.composite(), mask if mask is not None and mask.getbbox() else None


def _extra_references(paths: Any) -> tuple[Image.Image, ...]:
    """The img2img tab's further pictures, in the order they were added; one that is not a picture is named."""
    pictures = []
    for path in paths or ():
        path = path if isinstance(path, str) else getattr(path, "path", None) or getattr(path, "name", "")
        try:
            with Image.open(path) as image:
                image.load()
                pictures.append(image.copy())
        except (OSError, UnidentifiedImageError) as exc:
            name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
            raise RequestError(f"The reference picture {name} cannot be read ({exc}). Remove it, or add it "
                               "again as a PNG or JPEG.") from None
    return tuple(pictures)


def _outpaint_sides(form: dict[str, Any]) -> tuple[int, int, int, int]:
    directions = form.get("outpaint_directions") or []
    if not directions:
        raise RequestError("Outpaint: choose at least one direction to extend.")
    pixels = int(form.get("outpaint_pixels") or 0)
    return tuple(pixels if side in directions else 0 for side in DIRECTIONS)  # type: ignore[return-value]


def request_from_form(tab: str, form: dict[str, Any]) -> GenerationRequest:
    """The request a sub-tab's form describes. Values are checked later by `validate`."""
    mode, picture, mask = _picture_and_mask(tab, form)
    if tab == "img2img":
        references = _extra_references(form.get("extra_references"))
    elif tab == "inpaint" and form.get("inpaint_reference"):  # an edit model's inpaint (Flux Kontext) looks at it
        references = _extra_references([form["inpaint_reference"]])
    else:
        references = ()
    outpaint = _outpaint_sides(form) if tab == "outpaint" else (0, 0, 0, 0)
    seed, subseed = form.get("seed"), form.get("subseed")
    return GenerationRequest(
        prompt=form.get("prompt") or "", negative_prompt=form.get("negative_prompt") or "", mode=mode,
        checkpoint=form.get("checkpoint") or None, vae=form.get("vae") or "Automatic",
        additional_modules=modules_select.field(form.get("additional_modules")),
        sampler=form.get("sampler") or "Euler a", schedule_type=form.get("schedule_type") or "Automatic",
        steps=form.get("steps", 20), cfg_scale=form.get("cfg_scale", 7.0), width=form.get("width", 512),
        distilled_cfg_scale=distilled_from_form(form.get("distilled_cfg_scale")),
        height=form.get("height", 512), seed=-1 if seed is None else seed, subseed=-1 if subseed is None else subseed,
        subseed_strength=form.get("subseed_strength", 0.0), batch_count=form.get("batch_count", 1),
        batch_size=form.get("batch_size", 1), clip_skip=form.get("clip_skip", 1),
        init_images=(picture, *references), mask=mask, denoising_strength=form.get("denoising_strength", 0.75),
        resize_mode=form.get("resize_mode") or 0,
        mask_blur=form.get("mask_blur", 4), inpainting_fill=form.get("inpainting_fill", 1),
        inpaint_full_res=form.get("inpaint_area") == 1, inpaint_full_res_padding=form.get("padding", 32),
        inpainting_mask_invert=form.get("mask_mode") == 1, outpaint=outpaint,
        outpaint_fill=form.get("outpaint_fill") or "edge",
        soft_inpainting=soft_inpainting_panel.settings_from(form) if mode == "inpaint" else None)


# ------------------------------------------------------------------------------------------ layout
def _canvas(elem_id: str, label: str, layers: list[tuple[str, str]], active: str, colors: list[str],
            default_color: str, brush_fraction: float, **kwargs: Any) -> LayeredCanvas:
    # The brush starts at a fraction of the picture's shorter side, so it fits a 48 px and a 2048 px picture.
    return LayeredCanvas(label=label, elem_id=elem_id, layers=layers, active_layer=active, colors=colors,
                         default_color=default_color, brush_fraction=brush_fraction, canvas_height=480, **kwargs)


def _upload(label: str, elem_id: str, height: int) -> gr.Image:
    # image_mode=None keeps transparency (flattened on white later) and masks' alpha; PNG keeps pixels exact.
    return gr.Image(label=label, type="pil", image_mode=None, format="png", sources=["upload", "clipboard"],
                    elem_id=elem_id, height=height)


def _picture_tabs() -> dict[str, Any]:
    c: dict[str, Any] = {"tabs": {}}
    with gr.Tabs(elem_id="mode_img2img", overflow_behavior="wrap") as c["subtabs"]:
        with gr.Tab("img2img", id="img2img", elem_id="img2img_img2img_tab") as c["tabs"]["img2img"]:
            c["init_img"] = _upload("Image for img2img", "img2img_image", 480)
            # Edit models (Qwen-Image-Edit Plus) take several reference pictures in one call; other models take the
            # pictures in turn for the images of a batch, as A1111's API does with several init images.
            c["extra_references"] = gr.File(
                label="More reference pictures (edit models such as Qwen-Image-Edit Plus; other models take the "
                      "pictures in turn for the images of a batch)", file_count="multiple", file_types=["image"],
                type="filepath", elem_id="img2img_extra_references", height=110)
        with gr.Tab("Sketch", id="sketch", elem_id="img2img_img2img_sketch_tab") as c["tabs"]["sketch"]:
            # A white page: drawing starts with the first stroke; Upload (or a drop) starts from a picture.
            c["sketch"] = _canvas("img2img_sketch", "Sketch", [("paint", "paint")], "paint", SKETCH_COLORS, "#000000",
                                  0.015, value=white_page())
            with gr.Row():
                c["sketch_source"] = _upload("Start from a picture", "img2img_sketch_source", 120)
                c["sketch_clear"] = gr.Button("New white page", elem_id="img2img_sketch_clear", scale=0)
        with gr.Tab("Inpaint", id="inpaint", elem_id="img2img_inpaint_tab") as c["tabs"]["inpaint"]:
            c["inpaint"] = _canvas("img2maskimg", "Image for inpainting: paint the mask over the part to redo",
                                   [("paint", "paint"), ("mask", "mask")], "mask", SKETCH_COLORS, "#e11d1d", 0.05)
            # Flux Kontext inpaints with a reference picture beside the masked one (A1111's API: init_images[1]).
            c["inpaint_reference"] = gr.File(
                label="Reference picture (Flux Kontext fills the mask from it; other models inpaint it as the "
                      "batch's next picture, as A1111's API does)", file_count="single", file_types=["image"],
                type="filepath", elem_id="img2img_inpaint_reference", height=110)
        with gr.Tab("Inpaint sketch", id="inpaint_sketch", elem_id="img2img_inpaint_sketch_tab") as tab:
            c["tabs"]["inpaint_sketch"] = tab
            c["inpaint_sketch"] = _canvas("inpaint_sketch", "Paint colours over the part to redo",
                                          [("paint", "paint"), ("mask", "mask")], "paint", SKETCH_COLORS, "#e11d1d",
                                          0.03)
        with gr.Tab("Inpaint upload", id="inpaint_upload", elem_id="img2img_inpaint_upload_tab") as tab:
            c["tabs"]["inpaint_upload"] = tab
            with gr.Row():
                c["upload_image"] = _upload("Image", "img_inpaint_base", 320)
                c["upload_mask"] = _upload("Mask (white = repaint)", "img_inpaint_mask", 320)
        with gr.Tab("Outpaint", id="outpaint", elem_id="img2img_outpaint_tab") as c["tabs"]["outpaint"]:
            c["outpaint_image"] = _canvas("img2img_outpaint_image", "Picture to extend (paint over it, or paint the "
                                          "mask to redo a part of it too)", [("paint", "paint"), ("mask", "mask")],
                                          "paint", SKETCH_COLORS, "#e11d1d", 0.03)
            with gr.Row():
                c["outpaint_pixels"] = gr.Slider(8, 256, value=128, step=8, label="Pixels to expand",
                                                 elem_id="img2img_outpaint_pixels")
                c["outpaint_directions"] = gr.CheckboxGroup(list(DIRECTIONS), value=list(DIRECTIONS),
                                                            label="Outpainting direction",
                                                            elem_id="img2img_outpaint_directions")
                c["outpaint_fill"] = gr.Radio(list(OUTPAINT_FILLS), value="edge", label="New area starts from",
                                              elem_id="img2img_outpaint_fill")
    return c


def _settings(services: Services) -> dict[str, Any]:
    defaults = services.model_defaults()
    c: dict[str, Any] = {}
    c["resize_mode"] = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], type="index", label="Resize mode",
                                elem_id="resize_mode")
    with gr.Group(visible=False) as c["inpaint_options"]:
        with gr.Row():
            c["mask_blur"] = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id="img2img_mask_blur")
            c["mask_mode"] = gr.Radio(list(MASK_MODES), value=MASK_MODES[0], type="index", label="Mask mode",
                                      elem_id="img2img_mask_mode")
        c["inpainting_fill"] = gr.Radio(list(MASKED_CONTENT), value=MASKED_CONTENT[1], type="index",
                                        label="Masked content", elem_id="img2img_inpainting_fill")
        with gr.Row():
            c["inpaint_area"] = gr.Radio(list(INPAINT_AREAS), value=INPAINT_AREAS[0], type="index",
                                         label="Inpaint area", elem_id="img2img_inpaint_full_res")
            c["padding"] = gr.Slider(0, 256, value=32, step=4, label="Only masked padding, pixels",
                                     elem_id="img2img_inpaint_full_res_padding")
        c.update(soft_inpainting_panel.build())
    with gr.Row():
        c["sampler"] = gr.Dropdown(services.samplers.names(), value=defaults.get("sampler", "Euler a"),
                                   label="Sampling method", elem_id="img2img_sampler")
        c["schedule_type"] = gr.Dropdown(list(SCHEDULE_TYPES), value="Automatic", label="Schedule type",
                                         elem_id="img2img_scheduler")
    c["steps"] = gr.Slider(1, 150, value=defaults.get("steps", 20), step=1, label="Sampling steps",
                           elem_id="img2img_steps")
    with gr.Row():
        c["width"] = gr.Slider(8, 2048, value=defaults.get("width", 512), step=8, label="Width",
                               elem_id="img2img_width")
        c["height"] = gr.Slider(8, 2048, value=defaults.get("height", 512), step=8, label="Height",
                                elem_id="img2img_height")
    with gr.Row():
        c["batch_count"] = gr.Slider(1, 100, value=1, step=1, label="Batch count", elem_id="img2img_batch_count")
        c["batch_size"] = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="img2img_batch_size")
    c["cfg_scale"] = gr.Slider(0, 30, value=defaults.get("cfg_scale", 7.0), step=0.5, label="CFG Scale",
                               elem_id="img2img_cfg_scale")
    c["distilled_cfg_scale"] = gr.Slider(0, 30, value=DISTILLED_DEFAULT, step=0.1, label="Distilled CFG Scale",
                                         info="Flux dev, Kontext and Fill: the guidance their embedding takes",
                                         elem_id="img2img_distilled_cfg_scale")
    c["denoising_strength"] = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                        elem_id="img2img_denoising_strength")
    with gr.Row():
        c["seed"] = gr.Number(value=-1, precision=0, label="Seed", elem_id="img2img_seed", scale=3)
        c["random_seed"] = gr.Button("🎲", elem_id="img2img_random_seed", scale=0, min_width=48)
        c["reuse_seed"] = gr.Button("♻️", elem_id="img2img_reuse_seed", scale=0, min_width=48)
    with gr.Accordion("Variation seed and more", open=False):
        c["subseed"] = gr.Number(value=-1, precision=0, label="Variation seed", elem_id="img2img_subseed")
        c["subseed_strength"] = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength",
                                          elem_id="img2img_subseed_strength")
        c["clip_skip"] = gr.Slider(1, 12, value=1, step=1, label="Clip skip", elem_id="img2img_clip_skip")
    return c


# ------------------------------------------------------------------------------------------ build and wire
def build(services: Services) -> Img2ImgTab:
    choices, selected, _ = checkpoint_choices(services)
    defaults = services.model_defaults()
    with gr.Row():
        checkpoint = gr.Dropdown(choices, value=selected, label="Checkpoint", elem_id="img2img_checkpoint", scale=4)
        vae = gr.Dropdown(["Automatic"] + [v.name for v in services.models.vaes], value="Automatic", label="VAE",
                          elem_id="img2img_vae", scale=2)
        modules = modules_select.build(services, "img2img", selected)
    user_defaults.connect(services, checkpoint)
    modules_select.connect(services, checkpoint, modules)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, value=defaults.get("prompt", ""), elem_id="img2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="img2img_neg_prompt",
                                  value=services.ui_settings.get("default_negative_prompt") or "")
        with gr.Column(scale=1, min_width=160):
            generate_btn = gr.Button("Generate", variant="primary", elem_id="img2img_generate")
            with gr.Row():
                interrupt_btn = gr.Button("Interrupt", elem_id="img2img_interrupt")
                skip_btn = gr.Button("Skip", elem_id="img2img_skip")
    with gr.Row():
        with gr.Column(scale=1):
            pictures = _picture_tabs()
            settings = _settings(services)
            restore_faces = face_restoration.checkbox("img2img")
            wildcards_mode = wildcards_panel.build("img2img")
            refiner = refiner_panel.build(services, "img2img")
            step_cache = step_cache_panel.build("img2img")
            detailer = detailer_panel.build(services, "img2img")
            regions = regions_panel.build("img2img", settings["width"], settings["height"])
            controlnet = controlnet_panel.build(services, "img2img", settings["width"], settings["height"],
                                                with_input=True, fallback=pictures["init_img"])
            sections = extension_sections.build(services, "img2img", prompt, negative)
        with gr.Column(scale=1):
            status = gr.HTML(status_html("Ready."), elem_id="img2img_status")
            preview = gr.Image(label="Preview", interactive=False, elem_id="img2img_preview", format="png", height=160,
                               buttons=SHOWN_BUTTONS)
            gallery = output_gallery("img2img_gallery", columns=2, object_fit="contain", height="auto", preview=True)
            sends = send_row.send_buttons("img2img", ("img2img", "inpaint", "extras", "controlnet"))
            info = gr.Textbox(label="Generation parameters", lines=4, interactive=False, elem_id="img2img_info")
    selected = gr.State(0)
    gallery.select(remember, outputs=[selected], queue=False)
    tab = gr.State("img2img")
    job_id, last_seed = gr.State(None), gr.State(-1)
    form = {**{k: v for k, v in pictures.items() if k not in ("tabs", "subtabs", "sketch_clear")},
            **{k: v for k, v in settings.items() if k not in ("inpaint_options", "random_seed", "reuse_seed")},
            "prompt": prompt, "negative_prompt": negative, "checkpoint": checkpoint, "vae": vae, "tab": tab,
            "additional_modules": modules,
            "restore_faces": restore_faces, **detailer.components, wildcards_panel.FIELD: wildcards_mode}
    form.update(regions.components)

    def run(data: dict, request: gr.Request):
        values = {name: data[component] for name, component in form.items()}
        try:
            req = replace(request_from_form(values["tab"], values), control_units=controlnet.control_units(data),
                          extra={**sections.extra_from(data), **wildcards_panel.extra_from(values)},
                          restore_faces=bool(values.get("restore_faces")),
                          **refiner.fields(data), **step_cache.fields(data), detailer=detailer.units_from(values),
                          regions=regions.regions_from(values, values["width"], values["height"]))
            req = face_restoration.with_settings(services, req, user_of(request))
        except RequestError as exc:
            yield jobstream.error(str(exc)).values()
            return
        for update in jobstream.follow(services, req, user_of(request)):
            yield update.values()

    outputs = [job_id, status, preview, gallery, info, last_seed]
    inputs = (set(form.values()) | controlnet.inputs() | set(sections.components) | refiner.inputs()
              | step_cache.inputs())
    generate_btn.click(run, inputs=inputs,
                       outputs=outputs, concurrency_limit=None, show_progress="hidden", trigger_mode="multiple")

    def interrupt(job: str | None, request: gr.Request) -> None:
        if job:
            services.jobs.interrupt(job, user_of(request))

    def skip(job: str | None, request: gr.Request) -> None:
        if job:
            services.jobs.skip(job, user_of(request))

    interrupt_btn.click(interrupt, inputs=[job_id], outputs=None, queue=False)
    skip_btn.click(skip, inputs=[job_id], outputs=None, queue=False)
    settings["random_seed"].click(lambda: -1, outputs=[settings["seed"]], queue=False)
    settings["reuse_seed"].click(lambda s: s, inputs=[last_seed], outputs=[settings["seed"]], queue=False)
    _wire_pictures(pictures, settings, tab, services.processor.limits.max_input_side)
    return Img2ImgTab(subtabs=pictures["subtabs"], tab=tab, init_img=pictures["init_img"], inpaint=pictures["inpaint"],
                      inpaint_options=settings["inpaint_options"], prompt=prompt, negative_prompt=negative,
                      sampler=settings["sampler"], schedule_type=settings["schedule_type"], steps=settings["steps"],
                      cfg_scale=settings["cfg_scale"], width=settings["width"], height=settings["height"],
                      checkpoint=checkpoint, vae=vae, gallery=gallery, selected=selected, sends=sends,
                      soft={name: settings[name] for name in soft_inpainting_panel.names()}, detailer=detailer,
                      regions=regions, step_cache=step_cache)


def _size_updates(picture: Image.Image | None) -> tuple[Any, Any]:
    size = fit_size(picture)
    return (gr.update(), gr.update()) if size is None else (gr.update(value=size[0]), gr.update(value=size[1]))


def _wire_pictures(pictures: dict[str, Any], settings: dict[str, Any], tab: Any, max_side: int) -> None:
    for tab_id, component in pictures["tabs"].items():
        component.select(lambda t=tab_id: (t, gr.update(visible=t in INPAINT_TABS)),
                         outputs=[tab, settings["inpaint_options"]], queue=False)
    size = [settings["width"], settings["height"]]

    def checker(label: str, follow_size: bool):
        def check(payload: Any) -> tuple[Any, Any, Any]:
            picture, problem = read_upload(payload, max_side)
            if problem:
                gr.Warning(f"{label}: {problem}")
                return None, gr.update(), gr.update()
            return (gr.update(), *_size_updates(picture)) if follow_size else (gr.update(), gr.update(), gr.update())
        return check

    for name, follow_size in (("init_img", True), ("upload_image", True), ("upload_mask", False)):
        box = pictures[name]
        box.upload(checker(box.label, follow_size), inputs=[box], outputs=[box, *size], preprocess=False,
                   show_progress="hidden")
    for name in ("inpaint", "inpaint_sketch", "sketch"):
        pictures[name].upload(lambda v: _size_updates(v.background if v is not None else None),
                              inputs=[pictures[name]], outputs=size, queue=False)

    def outpaint_upload(value: CanvasValue | None) -> Any:
        padding = outpaint_padding(value.background if value is not None else None)
        return gr.update() if padding is None else gr.update(value=padding)

    # the canvas refuses unreadable or oversized files in the browser, with its own message
    pictures["outpaint_image"].upload(outpaint_upload, inputs=[pictures["outpaint_image"]],
                                      outputs=[pictures["outpaint_pixels"]], queue=False)

    def start_from(payload: Any) -> tuple[Any, Any]:
        picture, problem = read_upload(payload, max_side)
        if problem:
            gr.Warning(f"Start from a picture: {problem}")
            return None, gr.update()
        return gr.update(), (picture if picture else white_page())

    pictures["sketch_source"].upload(start_from, inputs=[pictures["sketch_source"]],
                                     outputs=[pictures["sketch_source"], pictures["sketch"]], preprocess=False,
                                     show_progress="hidden")
    pictures["sketch_clear"].click(white_page, outputs=[pictures["sketch"]], queue=False)


def _picked(gallery: Any, index: int | None) -> Image.Image | None:
    """The picture a txt2img gallery shows at `index` (the first when none was clicked)."""
    items = list(gallery or [])
    if not items:
        return None
    item = items[min(max(index or 0, 0), len(items) - 1)]
    if isinstance(item, (tuple, list)):
        item = item[0]
    if isinstance(item, dict):
        item = item.get("path") or (item.get("image") or {}).get("path")
    if isinstance(item, Image.Image):
        return item.copy()
    with Image.open(item) as image:
        image.load()
        return image.copy()


TXT2IMG_SETTINGS = ("prompt", "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale", "checkpoint", "vae")
PICTURE_SETTINGS = ("prompt", "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale")


@dataclass(frozen=True)
class SendToImg2Img:
    """"Send to img2img" / "Send to inpaint", written once for the tabs that have the buttons (txt2img, PNG Info,
    History): the widgets it fills and their updates for one picture.

    `target` is the sub-tab that receives the picture ("img2img" or "inpaint"); `settings` names the img2img
    fields copied from the values a tab read (request field names; a missing one keeps its current value)."""

    img2img: Img2ImgTab
    tabs: Any  # the app's top-level gr.Tabs
    target: str
    settings: tuple[str, ...] = PICTURE_SETTINGS
    tab_id: str = "img2img"  # the img2img tab's id among `tabs`

    @property
    def from_infotext(self) -> bool:
        """PNG Info and History send a picture's whole infotext: its soft inpainting, ADetailer and regions
        settings are restored too (txt2img's own sends carry only its form's values)."""
        return self.settings == PICTURE_SETTINGS

    def _panels(self) -> list[Any]:
        i2i = self.img2img
        if not self.from_infotext:
            return []
        return [*(i2i.soft or {}).values(), *(i2i.detailer.ordered() if i2i.detailer is not None else []),
                *(i2i.regions.ordered() if i2i.regions is not None else []),
                *(i2i.step_cache.ordered() if i2i.step_cache is not None else [])]

    def outputs(self) -> list[Any]:
        i2i = self.img2img
        box = i2i.init_img if self.target == "img2img" else i2i.inpaint
        return [box, *(getattr(i2i, name) for name in self.settings), i2i.width, i2i.height, i2i.subtabs, self.tabs,
                i2i.tab, i2i.inpaint_options, *self._panels()]

    def updates(self, picture: Image.Image, values: Mapping[str, Any]) -> list[Any]:
        """Updates for `outputs()`: the picture in the target's box (on an inpaint canvas, with no mask yet),
        the settings, a working size, and both tab levels switched to the target."""
        box = picture  # on the inpaint canvas: the background of a new page, with empty layers
        settings = [gr.update(value=values[name]) if name in values else gr.update() for name in self.settings]
        return [box, *settings, *_size_updates(picture), gr.Tabs(selected=self.target), gr.Tabs(selected=self.tab_id),
                self.target, gr.update(visible=self.target in INPAINT_TABS), *self._panel_updates(values)]

    def _panel_updates(self, values: Mapping[str, Any]) -> list[Any]:
        i2i = self.img2img
        if not self.from_infotext:
            return []
        soft = soft_inpainting_panel.updates_from(values.get("soft_inpainting")) if i2i.soft else []
        detailer: list[Any] = []
        if i2i.detailer is not None:
            detailer, note = i2i.detailer.updates_from(values)
            if note:
                gr.Warning(note.strip())
        regions = [] if i2i.regions is None else i2i.regions.updates_from(
            values, int(values.get("width") or 512), int(values.get("height") or 512))
        step_cache = [] if i2i.step_cache is None else i2i.step_cache.updates_from(values)
        return soft + detailer + regions + step_cache


def connect_send(txt2img: Txt2ImgTab, img2img: Img2ImgTab, tabs: Any, tab_id: str = "img2img") -> None:
    """txt2img's "Send to img2img" / "Send to inpaint": the picture and the prompt and settings that made it."""
    inputs = [txt2img.gallery, txt2img.selected] + [getattr(txt2img, name) for name in TXT2IMG_SETTINGS]

    def sender(sending: SendToImg2Img):
        def send(gallery, index, *values):
            picture = _picked(gallery, index)
            if picture is None:
                raise gr.Error("Nothing to send: generate a picture first.")
            return sending.updates(picture, dict(zip(sending.settings, values)))
        return send

    for button, target in ((txt2img.send_img2img, "img2img"), (txt2img.send_inpaint, "inpaint")):
        sending = SendToImg2Img(img2img, tabs, target, TXT2IMG_SETTINGS, tab_id)
        button.click(sender(sending), inputs=inputs, outputs=sending.outputs())


def connect_picture_send(button: Any, target: str, picture: Any, values_of: Callable[[Image.Image], dict[str, Any]],
                         img2img: Img2ImgTab, tabs: Any, tab_id: str = "img2img") -> None:
    """A "Send to img2img / inpaint" button for a tab that shows one picture (PNG Info): the picture, and the
    settings `values_of(picture)` reads from it (a dict of request field names; missing ones stay as they are)."""
    sending = SendToImg2Img(img2img, tabs, target, tab_id=tab_id)

    def send(image: Image.Image | None):
        if image is None:
            raise gr.Error("Nothing to send: load a picture first.")
        return sending.updates(image, values_of(image))

    button.click(send, inputs=[picture], outputs=sending.outputs())
