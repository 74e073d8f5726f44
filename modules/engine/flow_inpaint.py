"""What inpainting and outpainting on a flow family without an inpainting model of its own can take.

These run through diffusers' generic inpaint pipelines (FluxInpaintPipeline, StableDiffusion3InpaintPipeline, ...),
derived from the loaded checkpoint as img2img is. The pictures and the mask are prepared by engine/inpainting.py
exactly as for SD (mask blur, invert, "fill" masked content, "Only masked" with its padding, outpaint canvases), and
the result is pasted back the same way. Those pipelines encode the picture and noise it themselves, and put the
picture's latents back outside the (binarised) mask at every step; what needs a hand inside that loop is refused
here, with the reason, before the job waits in the queue.

Flux Kontext inpaints through FluxKontextInpaintPipeline, the same way: its transformer also sees a context picture
beside the masked latents, the input picture itself or, when a second picture is given, that reference.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PIL import Image

from modules.core.requests import MASKED_CONTENT, GenerationRequest, RequestError
from modules.engine import imaging, inpainting
from modules.engine.inpainting import Prepared

LATENT_NOISE, LATENT_NOTHING = 2, 3  # A1111's masked-content indexes that act on latents (engine/pipelines.py)


def check(request: GenerationRequest, label: str, name: str) -> None:
    if request.soft_inpainting is not None:
        raise RequestError(
            f"Soft inpainting is not available for {name} ({label}): it blends the latents by the mask's grey "
            "levels at every step, and this family's inpaint pipeline keeps a hard mask inside its own loop. Turn "
            "soft inpainting off; the mask blur still softens the seam when the result is pasted back.")
    # At full strength the masked area starts from pure noise whatever it held, so every masked content is the
    # same there; below it, "latent noise" and "latent nothing" would have to replace latents the pipeline encodes
    # itself.
    if request.inpainting_fill in (LATENT_NOISE, LATENT_NOTHING) and request.denoising_strength < 1:
        raise RequestError(
            f"Masked content {MASKED_CONTENT[request.inpainting_fill]!r} is not available for {name} ({label}) "
            f"below denoising strength 1 (it is {request.denoising_strength}). Choose 'fill' or 'original', or "
            "set the denoising strength to 1.")


def ready(pipe: Any) -> Any:
    """The derived inpaint pipeline, able to run. diffusers 0.42's ChromaInpaintPipeline reads
    `transformer.config.guidance_embeds`, which Chroma's transformer does not have (it has no guidance embedding,
    and the value read is never used): saying so in the config is all it lacks."""
    config = pipe.transformer.config
    if type(pipe).__name__ == "ChromaInpaintPipeline" and "guidance_embeds" not in config:
        pipe.transformer.register_to_config(guidance_embeds=False)
    return pipe


def on_grid(prepared: Prepared, multiple: int = 16) -> Prepared:
    """An outpaint canvas padded to the transformers' 16 px grid (engine/inpainting.py pads it to the VAE's 8): the
    padding is generated and cropped away after, as SD's is. Other working sizes are the request's, already checked
    to be multiples of 16."""
    if prepared.mask is None or (prepared.width % multiple == 0 and prepared.height % multiple == 0):
        return prepared
    for source in prepared.sources:
        if source.crop is None:  # an outpaint source always has one; anything else keeps its own size
            source.crop = source.working.size
        source.working = imaging.pad_to_multiple(source.working, multiple)
    prepared.mask = imaging.pad_to_multiple(prepared.mask, multiple, value=255)
    prepared.width, prepared.height = prepared.mask.size
    return prepared


def with_references(request: GenerationRequest) -> tuple[Prepared, list[Image.Image]]:
    """An inpaint on an edit model (Flux Kontext): the first input picture is the one inpainted, prepared as any
    inpaint's (mask blur, inpaint area, masked content, outpaint); the pictures after it are its references, given to
    the model as the edit mode gives them (at the working size, by the resize mode), untouched by the mask."""
    prepared = on_grid(inpainting.prepare(replace(request, init_images=request.init_images[:1])))
    references = [imaging.resize_image(request.resize_mode, imaging.flatten(picture), prepared.width, prepared.height)
                  for picture in request.init_images[1:]]
    return prepared, references
