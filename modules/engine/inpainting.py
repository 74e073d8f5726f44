"""img2img and inpaint inputs prepared as A1111 prepares them, and results pasted back. No torch here.

`prepare(request)` gives, for each input picture, the working picture the model starts from (always the
working size, a multiple of 8) and how its result goes back: the picture to composite onto, the overlay mask
(255 = generated, 0 = original pixel kept exactly) and, for "Only masked", the box it is pasted into.
`finish(source, generated)` makes the output picture.

Order of operations (A1111's): mask -> invert -> blur -> crop region ("Only masked") -> resize to the
working size -> "fill" masked content. Outpainting first puts the picture on a larger canvas and adds the new
area to the mask; the original region is protected from the blur, so it comes back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops, ImageOps

from modules.core.requests import MASKED_CONTENT, RESIZE_MODES, GenerationRequest, RequestError
from modules.core.validation import as_mask
from modules.core.soft_inpainting import infotext_params as soft_infotext
from modules.engine import imaging
from modules.engine.imaging import Box

FILL, ORIGINAL, LATENT_NOISE, LATENT_NOTHING = range(4)
BLANK_GREY = (127, 127, 127)  # encodes to ~0 in the VAE's [-1, 1] range: "no picture" for 9-channel UNets


@dataclass
class Source:
    working: Image.Image  # RGB at the working size: what the VAE encodes
    original: Image.Image  # RGB the result is composited onto (the output's size before `crop`)
    overlay: Image.Image | None = None  # L, original's size; None = the generated picture as is
    box: Box | None = None  # "Only masked": where in `original` the working picture goes back
    crop: tuple[int, int] | None = None  # outpaint: the working canvas was padded to x8; crop back to this


@dataclass
class Prepared:
    sources: list[Source]
    mask: Image.Image | None  # L at the working size (blurred): what the model repaints; None for img2img
    width: int  # working size
    height: int
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # infotext additions, A1111's names


def finish(source: Source, generated: Image.Image) -> Image.Image:
    if source.crop is not None:
        generated = generated.crop((0, 0) + source.crop)
    return imaging.composite(generated, source.original, source.overlay, source.box)


def _pictures(request: GenerationRequest, warnings: list[str]) -> list[Image.Image]:
    pictures = [imaging.flatten(image) for image in request.init_images]
    size = pictures[0].size
    if request.mode == "inpaint" and any(p.size != size for p in pictures):
        warnings.append(f"The input pictures differ in size; all were resized to the first one's {size[0]}x{size[1]} "
                        "to share its mask.")
        pictures = [p if p.size == size else p.resize(size, imaging.LANCZOS) for p in pictures]
    return pictures


def _user_mask(request: GenerationRequest, size: tuple[int, int], warnings: list[str]) -> Image.Image | None:
    if request.mask is None:
        return None
    mask = as_mask(request.mask)
    if mask.size != size:
        warnings.append(f"The mask is {mask.width}x{mask.height} but the picture is {size[0]}x{size[1]}: "
                        "the mask was resized to fit the picture.")
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return ImageOps.invert(mask) if request.inpainting_mask_invert else mask


def _outpaint(request: GenerationRequest, pictures: list[Image.Image], user: Image.Image | None
              ) -> tuple[list[Image.Image], Image.Image]:
    """Canvases with the new area filled, and the blurred mask: new area + the user's mask."""
    left, right, up, down = request.outpaint
    width, height = pictures[0].size
    made = [imaging.outpaint_canvas(p, left, right, up, down, request.outpaint_fill, seed=max(0, request.seed))
            for p in pictures]
    canvases, new_area = [c for c, _ in made], made[0][1]
    blurred = imaging.blur_mask(new_area, request.mask_blur)
    blurred.paste(0, (left, up, left + width, up + height))  # the blur must not reach into the original
    if user is not None:
        big = Image.new("L", new_area.size, 0)
        big.paste(user, (left, up))
        blurred = ImageChops.lighter(blurred, imaging.blur_mask(big, request.mask_blur))
    return canvases, blurred


def _inpaint_params(request: GenerationRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"Mask blur": request.mask_blur}
    if request.inpainting_mask_invert:
        params["Mask mode"] = "Inpaint not masked"
    params["Masked content"] = MASKED_CONTENT[request.inpainting_fill]
    if request.inpaint_full_res:
        params["Inpaint area"] = "Only masked"
        params["Masked area padding"] = request.inpaint_full_res_padding
    if request.outpainting:
        sides = zip(("left", "right", "up", "down"), request.outpaint)
        params["Outpaint"] = " ".join(f"{side} {px}" for side, px in sides if px)
        params["Outpaint fill"] = request.outpaint_fill
    return params


def _overlay(request: GenerationRequest, mask: Image.Image) -> Image.Image:
    """Soft inpainting pastes in proportion to the mask's grey levels; A1111's hard overlay doubles them."""
    return mask.copy() if request.soft_inpainting is not None else imaging.double_mask(mask)


def _whole_picture(request: GenerationRequest, pictures: list[Image.Image], blurred: Image.Image
                   ) -> tuple[list[Source], Image.Image, int, int]:
    if request.outpainting:  # the canvas is the working picture: padded to a multiple of 8, cropped back after
        mask = imaging.pad_to_multiple(blurred, value=255)
        overlay = imaging.double_mask(blurred)
        sources = [Source(working=imaging.pad_to_multiple(p), original=p, overlay=overlay, crop=p.size)
                   for p in pictures]
        return sources, mask, mask.width, mask.height
    width, height = request.width, request.height
    mask = imaging.resize_image(request.resize_mode, blurred, width, height)
    overlay = _overlay(request, mask)
    sources = []
    for picture in pictures:
        resized = imaging.resize_image(request.resize_mode, picture, width, height)
        sources.append(Source(working=resized, original=resized, overlay=overlay))
    return sources, mask, width, height


def _only_masked(request: GenerationRequest, pictures: list[Image.Image], blurred: Image.Image
                 ) -> tuple[list[Source], Image.Image, int, int]:
    width, height = request.width, request.height
    region = imaging.crop_region(blurred, request.inpaint_full_res_padding)
    if region is None:
        raise RequestError("Nothing to inpaint: the mask is empty. Paint over the part of the picture to redo.")
    region = imaging.expand_to_aspect(region, width, height, blurred.width, blurred.height)
    mask = blurred.crop(region).resize((width, height), imaging.LANCZOS)
    overlay = _overlay(request, blurred)
    sources = [Source(working=p.crop(region).resize((width, height), imaging.LANCZOS), original=p, overlay=overlay,
                      box=region) for p in pictures]
    return sources, mask, width, height


def prepare(request: GenerationRequest) -> Prepared:
    """The working pictures and mask of a validated img2img/inpaint request."""
    warnings: list[str] = []
    pictures = _pictures(request, warnings)
    params: dict[str, Any] = {"Denoising strength": request.denoising_strength,
                              "Input size": f"{pictures[0].width}x{pictures[0].height}"}
    if request.mode == "img2img":
        if request.resize_mode:
            params["Resize mode"] = RESIZE_MODES[request.resize_mode]
        sources = []
        for picture in pictures:
            resized = imaging.resize_image(request.resize_mode, picture, request.width, request.height)
            sources.append(Source(working=resized, original=resized))
        return Prepared(sources, None, request.width, request.height, warnings, params)
    user = _user_mask(request, pictures[0].size, warnings)
    if request.outpainting:
        pictures, blurred = _outpaint(request, pictures, user)
    else:
        assert user is not None  # validate() refuses an inpaint without mask or outpaint
        blurred = imaging.blur_mask(user, request.mask_blur)
    build = _only_masked if request.inpaint_full_res else _whole_picture
    sources, mask, width, height = build(request, pictures, blurred)
    if request.inpainting_fill == FILL:
        for source in sources:
            source.working = imaging.fill_masked(source.working, mask)
    params.update(_inpaint_params(request))
    if request.soft_inpainting is not None:
        params.update(soft_infotext(request.soft_inpainting))
    return Prepared(sources, mask, width, height, warnings, params)


def whole_canvas(request: GenerationRequest, prepared: Prepared | None) -> Prepared:
    """For a 9-channel (inpainting) UNet asked for txt2img or img2img: the whole picture is the mask, as A1111
    does; txt2img starts from a blank grey picture."""
    if prepared is None:
        blank = Image.new("RGB", (request.width, request.height), BLANK_GREY)
        prepared = Prepared([Source(working=blank, original=blank)], None, request.width, request.height)
    prepared.mask = Image.new("L", (prepared.width, prepared.height), 255)
    for source in prepared.sources:
        source.overlay = None
    return prepared
