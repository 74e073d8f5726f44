"""`<lora:name:w>` on the flow-matching families (Flux.1 with Kontext and Fill, SD 3.x, Chroma, Z-Image, Qwen-Image
and its edit models): adapters loaded through each pipeline's own diffusers loader, applied for one job.

The guarantee is SD's (engine/models/loras.py): adapters stay loaded on the checkpoint (LRU), a job sets their
weights, the deltas are added into the transformer's weights for the job's steps after the touched weights are
copied, and the copies are put back afterwards, so the transformer returns bit for bit. (diffusers' own
fuse/unfuse subtracts the delta again, which drifts; unfused adapters that are disabled or deleted leave the
base untouched but slow every step.) The weights split as A1111's tag says: the UNet weight goes to the
transformer, the text-encoder weight to the text encoders the family's loader covers.

Which LoRA fits which checkpoint is the family table's business (`families.takes_lora`); a LoRA's
family comes from its keys (engine/models/flow_lora_keys.py).
"""

from __future__ import annotations

from typing import Any

from modules.core.prompts import extract_loras
from modules.core.requests import GenerationRequest, RequestError
from modules.engine.models import flow_families, flow_lora_keys

TRANSFORMER = "transformer"


def check(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """The generic fallback runs pipelines we know nothing of: a LoRA there is refused, not guessed at."""
    if family == flow_families.GENERIC and extract_loras(request.prompt)[1]:
        raise RequestError(f"LoRA is not available for {name} ({label}): it runs through the generic fallback, "
                           "whose pipeline has no LoRA loader we use. Remove the <lora:...> tags.")


def job_loras(prompt: str, models: Any, warnings: list[str]) -> tuple[str, list[tuple[Any, float, float]]]:
    """The prompt without its tags, and (LoraInfo, text-encoder weight, transformer weight) per distinct LoRA; a name
    not in the Lora folder only warns, and the same LoRA twice adds its weights (both as A1111)."""
    prompt, tags, notes = extract_loras(prompt)
    warnings += notes
    loras: list[tuple[Any, float, float]] = []
    for tag in tags:
        info = models.find_lora(tag.name)
        if info is None:
            warnings.append(f"LoRA {tag.name!r} not found in the Lora folder: the tag was ignored.")
        elif any(seen is info for seen, _, _ in loras):
            loras = [(i, te + tag.te_weight, tr + tag.unet_weight) if i is info else (i, te, tr)
                     for i, te, tr in loras]
        else:
            loras.append((info, tag.te_weight, tag.unet_weight))
    return prompt, loras


def infotext(loras: list[tuple[Any, float, float]], models: Any) -> dict[str, str]:
    """A1111's "Lora hashes" field: name and the 12-digit hash of the weights."""
    if not loras:
        return {}
    return {"Lora hashes": ", ".join(f"{info.name}: {models.lora_hash(info)[:12]}" for info, _, _ in loras)}


def read_state_dict(path: Any) -> dict[str, Any]:
    import torch

    if str(path).lower().endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    return loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded


def is_transformer_pipe(pipe: Any) -> bool:
    """A flow family's pipeline: a transformer where SD has its UNet."""
    return getattr(pipe, "unet", None) is None and getattr(pipe, TRANSFORMER, None) is not None


def load(pipe: Any, path: Any, name: str) -> None:
    """Load one LoRA file as adapter `name` through the pipeline's diffusers loader; BFL-layout Flux files are
    converted at the transformer's width first. ValueError when nothing in it fits this model."""
    if not hasattr(pipe, "load_lora_weights"):
        raise ValueError(f"{type(pipe).__name__} has no LoRA loader")
    config = pipe.transformer.config
    width = int(getattr(config, "num_attention_heads", 0) * getattr(config, "attention_head_dim", 0))
    state_dict = flow_lora_keys.normalise(read_state_dict(path), width)
    before = _lora_layers(pipe)
    pipe.load_lora_weights(state_dict, adapter_name=name)
    if _lora_layers(pipe) == before:
        # diffusers only warns when no key matches; a LoRA that would change nothing is refused instead.
        raise ValueError("none of its layers matches this model's transformer or text encoders")


def components(pipe: Any) -> list[Any]:
    """The transformer and the text encoders the family's loader covers: what a fused job may change."""
    names = getattr(pipe, "_lora_loadable_modules", [TRANSFORMER])
    return [c for c in (getattr(pipe, n, None) for n in names) if c is not None]


def adapter_weights(pipe: Any, entries: list[tuple[str, float, float]]) -> list[dict[str, float]]:
    """set_adapters' weights per component for entries of (adapter name, text-encoder weight, transformer
    weight), for the components that carry the adapter (a text encoder without it is left out)."""
    out = []
    for adapter, te, tr in entries:
        weights = {}
        for name in getattr(pipe, "_lora_loadable_modules", [TRANSFORMER]):
            component = getattr(pipe, name, None)
            if component is not None and adapter in _adapters_of(component):
                weights[name] = tr if name == TRANSFORMER else te
        out.append(weights)
    return out


def _adapters_of(component: Any) -> set[str]:
    config = getattr(component, "peft_config", None)
    return set(config) if isinstance(config, dict) else set()


def _lora_layers(pipe: Any) -> int:
    from peft.tuners.lora.layer import LoraLayer

    return sum(len(m.lora_A) for c in components(pipe) for m in c.modules() if isinstance(m, LoraLayer))
