"""IP-Adapter units: a reference picture steers the UNet's cross-attention, as a ControlNet-style unit.

A unit arrives as sd-webui-controlnet sends it (module `ip-adapter_clip_sd15`, model `ip-adapter_sd15 [hash]`,
weight, guidance start/end, image). For each sampling call the job's adapters are put into the UNet with
diffusers' own conversion of the single-file layout (`_convert_ip_adapter_attn_to_diffusers`,
`_convert_ip_adapter_image_proj_to_diffusers`), built once per job and UNet; only the cross-attention
processors are swapped, and the UNet's own processors and projection are put back exactly afterwards, so the
next job's pictures are bit-exact with a UNet that never saw an adapter (diffusers' `unload_ip_adapter` would
build new processors instead).

The picture is encoded once per job; a forward pre-hook on the UNet hands its embeddings to every evaluation,
with each adapter's scale set per evaluation from the fraction of the steps done (the ControlNet wrapper's
`fraction`): outside [start, end] the scale is 0, which diffusers' processor skips, so such a step is exactly
the adapter-free one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.engine import image_embeddings
from modules.engine.controlnet.preprocessors import fit_to
from modules.engine.models.ipadapters import HIDDEN, IPAdapterError, LoadedIPAdapter

log = logging.getLogger(__name__)

# diffusers' plain attention processors: anything else in a cross-attention layer belongs to another feature
# (regional prompting) that the IP-Adapter's processors would silently replace.
PLAIN_PROCESSORS = ("AttnProcessor", "AttnProcessor2_0", "XFormersAttnProcessor", "SlicedAttnProcessor",
                    "AttnProcessorNPU", "FusedAttnProcessor2_0")


@dataclass
class Reference:
    """One IP-Adapter unit of a job: what it needs to run, and its scale for the UNet's next evaluation."""

    adapter: LoadedIPAdapter
    picture: Image.Image
    resize_mode: int  # the unit's resize mode, used to fit the picture to the encoder's square
    weight: float
    start: float
    end: float
    job: Job | None = None
    slot: int = 0  # its place among the job's adapters (the processors' lists)

    def steer(self, unet: Any, fraction: float, cfg: bool) -> None:
        job = self.job
        if job is None or job.active is None or unet is not job.active.unet:
            return  # not installed in this UNet (a refiner of another family)
        job.active.scales[self.slot] = self.weight if self.start <= fraction <= self.end else 0.0
        job.active.cfg = cfg


@dataclass
class _Installed:
    """The adapters built for one UNet: processors, projection and the pictures' embeddings."""

    unet: Any
    processors: dict[str, Any]  # the IP-Adapter cross-attention processors, by layer
    projection: Any
    embeds: list[tuple[torch.Tensor, torch.Tensor]]  # per slot: (cond, uncond), shape (1, 1, ...)
    scales: list[float] = field(default_factory=list)  # per slot, for the next evaluation only
    cfg: bool = False


@dataclass
class Job:
    """The IP-Adapter units of one job, and what was built for each UNet they ran in."""

    references: list[Reference]
    built: dict[int, _Installed] = field(default_factory=dict)  # by id(unet)
    active: _Installed | None = None

    def __post_init__(self) -> None:
        for slot, reference in enumerate(self.references):
            reference.job, reference.slot = self, slot


def _clip_picture(picture: Image.Image, encoder: Any, resize_mode: int) -> Image.Image:
    """The picture at the encoder's square input, by the unit's resize mode (CLIP's processing then only
    normalises): Crop and Resize is CLIP's usual centre crop, Just Resize squeezes, Resize and Fill pads."""
    size = int(encoder.config.image_size)
    return fit_to(picture.convert("RGB"), size, size, resize_mode, lines=False)


def embeddings(reference: Reference, device: Any, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(cond, uncond) as diffusers' pipelines make them: the picture's embedding and zeros, or, for the adapters
    that read hidden states, those of the picture and of an all-zero picture. Shape (1, 1, ...)."""
    adapter = reference.adapter
    picture = _clip_picture(reference.picture, adapter.encoder, reference.resize_mode)
    if adapter.info.reads == HIDDEN:
        cond = image_embeddings.encode(adapter.encoder, [picture], hidden_states=True)
        uncond = image_embeddings.encode_blank(adapter.encoder)
    else:
        cond = image_embeddings.encode(adapter.encoder, [picture])
        uncond = torch.zeros_like(cond)
    return cond[:, None].to(device, dtype), uncond[:, None].to(device, dtype)


def _build(unet: Any, job: Job) -> _Installed:
    from diffusers.models.embeddings import MultiIPAdapterImageProjection

    state_dicts = [reference.adapter.state_dict for reference in job.references]
    # diffusers builds processors for every attention layer; only the cross-attention ones carry the adapter.
    built = unet._convert_ip_adapter_attn_to_diffusers(state_dicts, low_cpu_mem_usage=False)
    processors = {name: p.to(device=unet.device, dtype=unet.dtype) for name, p in built.items()
                  if name.endswith("attn2.processor")}
    projection = MultiIPAdapterImageProjection(
        [unet._convert_ip_adapter_image_proj_to_diffusers(sd["image_proj"], low_cpu_mem_usage=False)
         for sd in state_dicts]).to(device=unet.device, dtype=unet.dtype)
    embeds = [embeddings(reference, unet.device, unet.dtype) for reference in job.references]
    return _Installed(unet, processors, projection, embeds, [0.0] * len(job.references))


def _hook(installed: _Installed) -> Any:
    def before_forward(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        sample = args[0] if args else kwargs["sample"]
        batch = sample.shape[0]
        scales, installed.scales = installed.scales, [0.0] * len(installed.scales)  # one evaluation only
        for processor in installed.processors.values():
            processor.scale = list(scales)
        half = batch // 2
        embeds = []
        for cond, uncond in installed.embeds:
            if installed.cfg and batch % 2 == 0:  # diffusers' layout: the negative half first
                embeds.append(torch.cat([uncond.expand(half, *uncond.shape[1:]), cond.expand(half, *cond.shape[1:])]))
            else:
                embeds.append(cond.expand(batch, *cond.shape[1:]))
        added = dict(kwargs.get("added_cond_kwargs") or {})
        added["image_embeds"] = embeds
        return args, {**kwargs, "added_cond_kwargs": added}

    return before_forward


def fits(unet: Any, job: Job) -> bool:
    """Whether the job's adapters are made for this UNet's text width (a refiner's is another)."""
    width = unet.config.cross_attention_dim
    for reference in job.references:
        key = next(k for k in reference.adapter.state_dict["ip_adapter"] if k.endswith("to_k_ip.weight"))
        if reference.adapter.state_dict["ip_adapter"][key].shape[1] != width:
            return False
    return True


@contextmanager
def installed(unet: Any, job: Job | None) -> Iterator[None]:
    """The job's adapters in `unet` for one sampling call; afterwards the UNet is exactly as it was."""
    if job is None or not job.references:
        yield
        return
    if not fits(unet, job):
        log.warning("IP-Adapter left out of a pass whose UNet has another text width (%s)",
                    unet.config.cross_attention_dim)
        yield
        return
    saved_processors = dict(unet.attn_processors)
    others = sorted({type(p).__name__ for name, p in saved_processors.items()
                     if name.endswith("attn2.processor") and type(p).__name__ not in PLAIN_PROCESSORS})
    if others:
        raise IPAdapterError(f"IP-Adapter units cannot be combined with another feature that changes the UNet's "
                             f"cross-attention ({', '.join(others)}, e.g. regional prompting) yet. Disable one.")
    if id(unet) not in job.built:
        job.built[id(unet)] = _build(unet, job)
    current = job.built[id(unet)]
    saved_projection, saved_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    handle = None
    try:
        unet.set_attn_processor({**saved_processors, **current.processors})
        unet.encoder_hid_proj = current.projection
        unet.config.encoder_hid_dim_type = "ip_image_proj"
        handle = unet.register_forward_pre_hook(_hook(current), with_kwargs=True)
        job.active = current
        yield
    finally:
        job.active = None
        if handle is not None:
            handle.remove()
        # The projection first: a "plus" projection has attention layers of its own, which count as processors.
        unet.encoder_hid_proj = saved_projection
        unet.config.encoder_hid_dim_type = saved_type
        unet.set_attn_processor(saved_processors)
