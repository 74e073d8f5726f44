"""Regional prompting in the UNet: each cross-attention (attn2) layer attends to every region's own prompt as
well as the base prompt, and blends the outputs by the regions' masks at that layer's resolution (the technique
of attention couple / Regional Prompter's Attention mode). The blend rule is in `modules.core.regions`. Self-
attention (attn1) inside a region does not look into the other regions (as DenseDiffusion modulates it), so one
region's subject does not bleed into its neighbour; the area outside every region stays open to all.

Attention alone recolours one composition rather than drawing a subject per region (the demo model drew one shape
across two regions), so after each UNet call every region is also drawn in its own window of the latent with its
own prompt (`region_windows`), and the VAE decoder keeps its normalisation and attention per region
(`region_vae`), without which a red region beside a blue one decoded purple.

A region's `<lora:...>` acts only in its region: its text-encoder part while that region's prompt is encoded,
and its UNet part on the to_k / to_v / to_out layers of the cross-attention computed for that region, whose
output only counts inside the region's mask. The LoRA's other UNet layers (self-attention, feed-forward,
convolutions) see the whole picture at once and cannot be confined to an area in one pass, so they are not used:
the README says so, and the job's notes repeat it.

The processors are installed for one job and the UNet's own processors are put back afterwards, even on error.
They only wrap plain attention processors: a UNet whose attention another feature has replaced (IP-Adapter) is
refused rather than silently losing one of the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from modules.core import prompts
from modules.core.regions import INFOTEXT_KEY, Region, RegionError, decode_mask, to_infotext
from modules.core.requests import GenerationRequest
from modules.engine import conditioning
from modules.engine import region_vae
from modules.engine import region_windows as windows
from modules.engine.models.loras import LoraInfo, adapter_name

# The processors ours can wrap: diffusers' plain ones (ours compute the same attention for the regions).
PLAIN_PROCESSORS = ("AttnProcessor", "AttnProcessor2_0", "XFormersAttnProcessor", "AttnProcessorNPU",
                    "FusedAttnProcessor2_0")
LORA_NOTE = ("A region's LoRA acts through its text encoder and the cross-attention inside its region; its other "
             "UNet layers (self-attention, feed-forward, convolutions) are not used.")

LoraEntry = tuple[LoraInfo, float, float]  # (LoRA, text-encoder weight, UNet weight), as models.use takes them


@dataclass(frozen=True)
class RegionPlan:
    """The regions of a job with their `<lora:...>` tags read out of their prompts."""

    regions: tuple[Region, ...]
    texts: tuple[str, ...]  # each region's prompt without its LoRA tags
    loras: tuple[tuple[LoraEntry, ...], ...]  # each region's LoRAs

    def all_loras(self) -> list[LoraInfo]:
        seen: list[LoraInfo] = []
        for entries in self.loras:
            seen += [info for info, _, _ in entries if not any(info is s for s in seen)]
        return seen


def plan(request: GenerationRequest, models: Any, warnings: list[str]) -> RegionPlan | None:
    """Read each region's LoRA tags from a ModelSource; unknown names only warn, as in the base prompt. None when
    the request has no regions."""
    if not request.regions:
        return None
    if request.enable_hr and request.hr_checkpoint and \
            str(models.resolve(request.hr_checkpoint).path) != str(models.resolve(request.checkpoint).path):
        raise RegionError("Regions cannot be combined with another hires checkpoint yet: its second pass would "
                          "draw without them. Choose Hires checkpoint: Use same checkpoint, or turn the regions off.")
    find_lora = models.find_lora
    texts, loras = [], []
    for n, region in enumerate(request.regions, start=1):
        text, tags, notes = prompts.extract_loras(region.prompt)
        warnings += [f"Region {n}: {note}" for note in notes]
        entries: list[LoraEntry] = []
        for tag in tags:
            info = find_lora(tag.name)
            if info is None:
                warnings.append(f"Region {n}: LoRA {tag.name!r} not found in the Lora folder: the tag was ignored.")
            else:
                entries.append((info, tag.te_weight, tag.unet_weight))
        if len(prompts.schedules(text, request.steps)) > 1:
            raise RegionError(f"Region {n}'s prompt uses prompt editing ([from:to:when]), which regions do not take "
                              "yet. Put the edit in the base prompt, or write the region's prompt without it.")
        texts.append(text)
        loras.append(tuple(entries))
    if any(loras):
        warnings.append(LORA_NOTE)
    return RegionPlan(tuple(request.regions), tuple(texts), tuple(loras))


def with_texts(prompt: str, region_plan: RegionPlan | None) -> str:
    """The base prompt and the regions' prompts, for finding the embeddings the job names."""
    return prompt if region_plan is None else "\n".join((prompt, *region_plan.texts))


def infotext(region_plan: RegionPlan | None) -> dict[str, str]:
    return {} if region_plan is None else {INFOTEXT_KEY: to_infotext(region_plan.regions)}


def idle_loras(region_plan: RegionPlan | None, job_loras: list[LoraEntry]) -> list[LoraInfo]:
    """The region LoRAs not also named in the base prompt (for the infotext's Lora hashes)."""
    return [info for info, _, _ in idle_entries(region_plan, job_loras)]


def idle_entries(region_plan: RegionPlan | None, job_loras: list[LoraEntry]) -> list[LoraEntry]:
    """The region LoRAs the model source must load for the job, at weight 0 so they change nothing globally
    (a LoRA also in the base prompt is loaded already)."""
    if region_plan is None:
        return []
    return [(info, 0.0, 0.0) for info in region_plan.all_loras() if not any(info is i for i, _, _ in job_loras)]


# ---------------------------------------------------------------------------------------------- LoRA deltas


def _lora_delta(module: Any, adapter: str, weight: float) -> torch.Tensor | None:
    """The weight change a PEFT LoRA layer's adapter makes at `weight`, or None when the layer lacks it."""
    if adapter not in getattr(module, "lora_A", {}):
        return None
    if getattr(module, "use_dora", {}).get(adapter):
        raise RegionError("A DoRA LoRA cannot be limited to a region; use it in the base prompt.")
    rank = module.r[adapter]
    scale = module.lora_alpha[adapter] / (math.sqrt(rank) if module.use_rslora.get(adapter) else rank)
    down, up = module.lora_A[adapter].weight.float(), module.lora_B[adapter].weight.float()
    if down.dim() != 2:
        return None
    return (up @ down) * (scale * weight)


@contextmanager
def _text_encoder_lora(pipe: Any, entries: tuple[LoraEntry, ...]) -> Iterator[None]:
    """The entries' text-encoder deltas added into the encoders' weights while a region's prompt is encoded;
    the exact weights are copied back after."""
    originals: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for encoder in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)):
                for module in ([] if encoder is None else encoder.modules()):
                    for info, te_weight, _ in entries:
                        delta = _lora_delta(module, adapter_name(info), te_weight) if te_weight else None
                        if delta is None:
                            continue
                        weight = module.get_base_layer().weight
                        originals.append((weight, weight.detach().clone()))
                        weight.add_(delta.to(weight.device, weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for weight, original in reversed(originals):
                weight.copy_(original)


def _unet_deltas(attn: Any, entries: tuple[LoraEntry, ...]) -> dict[str, torch.Tensor]:
    """{"to_k" | "to_v" | "to_out": summed delta} of a region's LoRAs for one cross-attention module."""
    layers = {"to_k": attn.to_k, "to_v": attn.to_v, "to_out": attn.to_out[0]}
    deltas: dict[str, torch.Tensor] = {}
    for key, module in layers.items():
        for info, _, unet_weight in entries:
            delta = _lora_delta(module, adapter_name(info), unet_weight) if unet_weight else None
            if delta is not None:
                deltas[key] = deltas[key] + delta if key in deltas else delta
    dtype = attn.to_k.weight.dtype if hasattr(attn.to_k, "weight") else torch.float32
    return {key: delta.to(attn.to_q.weight.device, dtype) for key, delta in deltas.items()}


# ---------------------------------------------------------------------------------------------- masks


def _box_cover(box: tuple[float, float, float, float], height: int, width: int) -> torch.Tensor:
    """(height, width): the share of each cell the box covers (1 inside, fractions along its edges)."""
    def axis(lo: float, hi: float, n: int) -> torch.Tensor:
        edges = torch.arange(n + 1, dtype=torch.float64) / n
        return (torch.minimum(edges[1:], torch.tensor(hi)) - torch.maximum(edges[:-1], torch.tensor(lo))
                ).clamp(min=0) * n

    x0, y0, x1, y1 = box
    return (axis(y0, y1, height)[:, None] * axis(x0, x1, width)[None, :]).float()


def _mask_cover(text: str, height: int, width: int) -> torch.Tensor:
    cells = decode_mask(text)
    grid = torch.frombuffer(bytearray(cells.tobytes()), dtype=torch.uint8).float() / 255.0
    grid = grid.reshape(1, 1, cells.height, cells.width)
    return F.interpolate(grid, size=(height, width), mode="area")[0, 0]


@dataclass
class _State:
    """What every region processor of one job shares: the regions' embeddings, and the size of the latent
    the UNet is working on (recorded by a forward pre-hook, so the hires pass uses its own size)."""

    regions: tuple[Region, ...]
    contexts: list[torch.Tensor] | None  # per region, (1, tokens, width); encoded at the UNet's first call
    images_per_batch: int
    latent: tuple[int, int] = (0, 0)
    # While a region's window runs (see `region_windows`): (region, rows of that call carrying its prompt).
    window: tuple[int, slice] | None = None
    _covers: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    _walls: dict[tuple[int, int], torch.Tensor | None] = field(default_factory=dict)
    _labels: dict[tuple[int, int], torch.Tensor | None] = field(default_factory=dict)

    def layer_size(self, tokens: int) -> tuple[int, int]:
        height, width = self.latent
        for _ in range(8):  # each UNet level halves the size, rounding up (stride-2 convolutions with padding)
            if height * width == tokens:
                return height, width
            height, width = -(-height // 2), -(-width // 2)
        raise RuntimeError(f"A cross-attention layer sees {tokens} positions, which matches no level of the "
                           f"{self.latent[0]}x{self.latent[1]} latent; regions cannot be placed on it.")

    def covers(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(regions, height*width): each region's share of each position, overlaps shared so they sum to <= 1."""
        key = (height, width)
        if key not in self._covers:
            maps = [(_box_cover(r.box, height, width) if r.box is not None else _mask_cover(r.mask or "", height, width))
                    * r.weight for r in self.regions]
            stacked = torch.stack(maps).reshape(len(maps), -1)
            total = stacked.sum(0)
            self._covers[key] = stacked / torch.where(total > 1, total, torch.ones_like(total))
        return self._covers[key].to(device, dtype)

    def walls(self, height: int, width: int, device: torch.device) -> torch.Tensor | None:
        """(positions, positions) True where self-attention may look: a position inside a region (its mask at
        least half covers it) sees its own region and the area outside every region, not the other regions, so
        one region's subject does not bleed into another. None when nothing is walled off."""
        key = (height, width)
        if key not in self._walls:
            labels = self._region_numbers(height, width)
            inside = labels[:, None] != 0
            allowed = (labels[:, None] == labels[None, :]) | ~inside | (labels[None, :] == 0)
            self._walls[key] = None if bool(allowed.all()) else allowed
        walls = self._walls[key]
        return None if walls is None else walls.to(device)

    def _region_numbers(self, height: int, width: int) -> torch.Tensor:
        """(height*width,): the region (1, 2, ...) that at least half covers each position, 0 where none does."""
        maps = torch.stack([(_box_cover(r.box, height, width) if r.box is not None
                             else _mask_cover(r.mask or "", height, width)).reshape(-1) for r in self.regions])
        best, index = maps.max(0)
        return torch.where(best >= 0.5, index + 1, torch.zeros_like(index))

    def labels(self, height: int, width: int, device: torch.device) -> torch.Tensor | None:
        """The region numbers at this size (for the VAE decoder), None when no position is in a region."""
        key = (height, width)
        if key not in self._labels:
            labels = self._region_numbers(height, width)
            self._labels[key] = labels if bool(labels.any()) else None
        labels = self._labels[key]
        return None if labels is None else labels.to(device)

    def cond_rows(self, batch: int) -> slice:
        """The rows of the UNet batch that carry the prompt: with CFG diffusers stacks [uncond, cond]."""
        n = self.images_per_batch
        if batch == 2 * n:
            return slice(n, 2 * n)
        if batch == n:
            return slice(0, n)
        raise RuntimeError(f"The UNet was called with a batch of {batch} for {n} pictures; regions expect {n} or "
                           f"{2 * n} (with CFG).")


class RegionalAttention:
    """A cross-attention processor: the layer's own processor for the base prompt, then each region's prompt
    (with its LoRA deltas), blended into the prompt's rows by the regions' shares."""

    def __init__(self, original: Any, state: _State, deltas: list[dict[str, torch.Tensor]]) -> None:
        self.original = original
        self.state = state
        self.deltas = deltas

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        base = self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        if encoder_hidden_states is None or hidden_states.dim() != 3:
            return base
        if self.state.window is not None:
            return self._in_window(attn, hidden_states, encoder_hidden_states, base)
        rows = self.state.cond_rows(hidden_states.shape[0])
        height, width = self.state.layer_size(hidden_states.shape[1])
        covers = self.state.covers(height, width, base.device, base.dtype)
        states = hidden_states[rows]
        query = attn.to_q(states)
        blended = base[rows]
        for index, context in enumerate(self.state.contexts or ()):
            share = covers[index][None, :, None]
            if not bool(share.any()):
                continue  # the region is too small to reach this layer's cells
            out = self._attend(attn, states, query, context.expand(states.shape[0], -1, -1), self.deltas[index])
            blended = blended + share * (out - base[rows])
        result = base.clone()
        result[rows] = blended
        return result

    def _in_window(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                   base: torch.Tensor) -> torch.Tensor:
        """In a region's window the whole call attends to that region's prompt already; only its LoRA deltas
        are left to add, on the rows carrying the prompt."""
        index, rows = self.state.window
        deltas = self.deltas[index]
        if not deltas or rows.stop <= (rows.start or 0):
            return base
        states = hidden_states[rows]
        result = base.clone()
        result[rows] = self._attend(attn, states, attn.to_q(states), encoder_hidden_states[rows], deltas)
        return result

    @staticmethod
    def _attend(attn: Any, states: torch.Tensor, query: torch.Tensor, context: torch.Tensor,
                deltas: dict[str, torch.Tensor]) -> torch.Tensor:
        """diffusers' attention (AttnProcessor2_0) of one region's prompt, with its LoRA deltas on the text side."""
        context = context.to(states.device, states.dtype)
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        if "to_k" in deltas:
            key = key + F.linear(context, deltas["to_k"])
        if "to_v" in deltas:
            value = value + F.linear(context, deltas["to_v"])
        batch, heads = states.shape[0], attn.heads
        head_dim = key.shape[-1] // heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, -1, heads, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(query), split(key), split(value))
        out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)
        projected = attn.to_out[0](out)
        if "to_out" in deltas:
            projected = projected + F.linear(out, deltas["to_out"])
        projected = attn.to_out[1](projected)
        if attn.residual_connection:
            projected = projected + states
        return projected / attn.rescale_output_factor


class RegionalSelfAttention:
    """A self-attention processor that keeps each region's positions from looking into the other regions (see
    `_State.walls`); where nothing is walled off it is the layer's own processor."""

    def __init__(self, original: Any, state: _State) -> None:
        self.original = original
        self.state = state

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        if self.state.window is not None or encoder_hidden_states is not None or attention_mask is not None \
                or hidden_states.dim() != 3 or attn.norm_cross or attn.group_norm is not None or attn.spatial_norm is not None:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        walls = self.state.walls(*self.state.layer_size(hidden_states.shape[1]), hidden_states.device)
        if walls is None:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        batch, heads = hidden_states.shape[0], attn.heads
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, -1, heads, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(query), split(key), split(value), attn_mask=walls[None, None])
        out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


# ---------------------------------------------------------------------------------------------- install


def check_unet(pipe: Any, family_label: str) -> Any:
    """The pipeline's UNet if regions can be drawn with it; RegionError saying why not."""
    from diffusers import UNet2DConditionModel

    unet = getattr(pipe, "unet", None)
    if not isinstance(unet, UNet2DConditionModel):
        raise RegionError(f"Regions need a UNet with cross-attention (SD 1.x, SD 2.x, SDXL); {family_label} "
                          "checkpoints cannot take them yet. Turn the regions off, or choose such a checkpoint.")
    for name, processor in unet.attn_processors.items():
        if name.endswith("attn2.processor") and type(processor).__name__ not in PLAIN_PROCESSORS:
            raise RegionError(f"Regions cannot be combined with {type(processor).__name__} (IP-Adapter or another "
                              "feature that replaces the UNet's attention) yet. Turn one of them off.")
    return unet


def encode_regions(pipe: Any, region_plan: RegionPlan, clip_skip: int) -> list[torch.Tensor]:
    """Each region's prompt embeddings (1, tokens, width), encoded with its own LoRAs' text-encoder part."""
    contexts = []
    for text, entries in zip(region_plan.texts, region_plan.loras):
        with _text_encoder_lora(pipe, entries):
            if conditioning.is_sdxl(pipe):
                contexts.append(conditioning.encode_texts_sdxl(pipe, [text])[0][0])  # its pooled vector is unused
            else:
                contexts.append(conditioning.encode_texts(pipe, [text], clip_skip=clip_skip)[0])
    return contexts


@contextmanager
def installed(pipe: Any, region_plan: RegionPlan | None, request: GenerationRequest, family_label: str
              ) -> Iterator[None]:
    """The regions drawn by `pipe`'s UNet for the `with` block (every pipeline derived from it shares the UNet:
    img2img, inpaint and the hires pass); its own processors come back afterwards, even on error."""
    if region_plan is None:
        yield
        return
    unet = check_unet(pipe, family_label)
    state = _State(region_plan.regions, None, request.batch_size)
    originals = unet.attn_processors
    modules = dict(unet.named_modules())
    replaced = {}
    for name, processor in originals.items():
        if name.endswith("attn2.processor"):
            attn = modules[name.removesuffix(".processor")]
            deltas = [_unet_deltas(attn, entries) for entries in region_plan.loras]
            replaced[name] = RegionalAttention(processor, state, deltas)
        elif name.endswith("attn1.processor") and type(processor).__name__ in PLAIN_PROCESSORS:
            replaced[name] = RegionalSelfAttention(processor, state)
        else:
            replaced[name] = processor

    def record_size(module: Any, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs["sample"]
        state.latent = (int(sample.shape[-2]), int(sample.shape[-1]))
        if state.contexts is None:
            # Encoded here, at the first step, so the embeddings the job names are loaded into the tokenizer by
            # then (generate loads them after the pipeline is lent).
            state.contexts = encode_regions(pipe, region_plan, request.clip_skip)

    def draw_windows(module: Any, args: tuple, kwargs: dict, output: Any) -> Any:
        return _with_windows(module, state, windows.bind(module, args, kwargs), output)

    hooks = (unet.register_forward_pre_hook(record_size, with_kwargs=True),
             unet.register_forward_hook(draw_windows, with_kwargs=True))
    unet.set_attn_processor(replaced)
    try:
        with region_vae.regional_decoder(getattr(pipe, "vae", None), state.labels):
            yield
    finally:
        for hook in hooks:
            hook.remove()
        unet.set_attn_processor(originals)


def _with_windows(unet: Any, state: _State, call: dict[str, Any], output: Any) -> Any:
    """The UNet's output with each region's share taken from its own window (see `region_windows`)."""
    if not windows.supported(call) or not state.contexts:
        return None
    full = output[0] if isinstance(output, tuple) else output.sample
    height, width = full.shape[-2:]
    covers = state.covers(height, width, full.device, full.dtype).reshape(-1, height, width)
    rows = state.cond_rows(full.shape[0])
    cell = windows.coarsest_cell(unet)
    result = full.clone()
    for index, context in enumerate(state.contexts):
        box = windows.window(covers[index], cell)
        if box is None:
            continue
        top, bottom, left, right = box

        def mark(call_rows: slice, index: int = index) -> None:
            state.window = (index, call_rows)

        try:
            drawn = windows.run_window(unet, call, box, context, rows, mark)
        finally:
            state.window = None
        share = covers[index, top:bottom, left:right]
        result[..., top:bottom, left:right] += share * (drawn - full[..., top:bottom, left:right])
    return (result, *output[1:]) if isinstance(output, tuple) else type(output)(sample=result)


# ---------------------------------------------------------------------------------------------- early checks

# Families whose checkpoints are SD-architecture UNets (their adapters' groups); "custom-*" are small ones too.
UNET_GROUPS = ("sd1", "sd2", "sdxl", "sdxl-refiner", "demo")


def check(request: GenerationRequest, checkpoint: Any, models: Any) -> None:
    """Refuse, before the job waits in the queue, regions its checkpoint's family cannot draw and region LoRAs
    of another family (RequestError saying what to do)."""
    from modules.core.requests import RequestError
    from modules.engine.models import families
    from modules.engine.models.loras import LoraError

    if not request.regions:
        return
    if any(unit.enabled and str(unit.module).casefold().startswith("ip-adapter") for unit in request.control_units):
        raise RequestError("Regions cannot be combined with an IP-Adapter unit yet: both replace the UNet's "
                           "cross-attention, and one would be lost. Turn the regions or the IP-Adapter unit off.")
    if request.detailer:
        raise RequestError("Regions cannot be combined with detect and redraw (ADetailer) yet: its redraws of each "
                           "face would get the regions of the whole picture. Turn one of them off.")
    group = families.checkpoint_family_group(checkpoint.family) or ""
    if group not in UNET_GROUPS and not group.startswith("custom-"):
        raise RequestError(f"Regions need a UNet with cross-attention (SD 1.x, SD 2.x, SDXL); "
                           f"{families.label(checkpoint.family)} checkpoints cannot take them yet. Turn the regions "
                           "off, or choose such a checkpoint.")
    try:
        region_plan = plan(request, models, [])
    except RegionError as exc:
        raise RequestError(str(exc)) from None
    for n, entries in enumerate(region_plan.loras if region_plan else (), start=1):
        for info, _, _ in entries:
            try:
                models.check_lora_family(info, checkpoint)
            except LoraError as exc:
                raise RequestError(f"Region {n}: {exc}") from None
