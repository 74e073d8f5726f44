"""The Checkpoint Merger as a job: check a merge request against the registry, run it on the shared queue with
progress, write the new checkpoint under models/Stable-diffusion and rescan so every list shows it at once.

Output: sources that are single files give one `.safetensors` in the original (A1111) layout; diffusers-folder
sources give a diffusers folder (configs copied from the primary, each component's weights as safetensors).
A folder is what loads back here without a per-family converter (the demo family has no original layout at
all), and A1111 users convert folders anyway. Both carry A1111's `sd_merge_recipe` and `sd_merge_models`.

Names: a name the user typed that exists is refused (nothing a user made is overwritten); the automatic name
gets `-1`, `-2`... A1111 overwrites in both cases.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.core.requests import RequestError
from modules.core.results import DetectedMap, JobControl, StepInfo
from modules.engine.models import merge
from modules.engine.models.manager import ModelManager
from modules.engine.models.registry import CheckpointInfo

log = logging.getLogger(__name__)

NO_VAE = "None"
_NAME = re.compile(r"^[\w][\w .,()+=\-\[\]]{0,119}$")
PROGRESS_STEPS = 50  # progress reports per merge: one per weight would flood the queue's listeners


@dataclass(frozen=True)
class MergeRequest:
    """One merge, as the tab and `POST /api/v1/merge` send it. `init_images`/`mask` are the generation
    requests' names so the job queue treats every request alike; a merge has none."""

    primary: str
    secondary: str
    tertiary: str = ""
    method: str = merge.WEIGHTED_SUM  # "weighted_sum" | "add_difference"
    multiplier: float = 0.5  # M: 0 keeps the primary, 1 takes the secondary (or the whole B - C difference)
    block_weights: tuple[float, ...] = ()  # per UNet block (IN00.., M00, OUT00..); empty = M everywhere
    name: str = ""  # without extension; empty = made from the sources' names and M
    save_as_half: bool = False
    bake_in_vae: str = NO_VAE
    init_images: tuple = ()
    mask: None = None
    mode: str = "merge"

    @property
    def batch_count(self) -> int:
        return 1

    @property
    def steps(self) -> int:
        return PROGRESS_STEPS


@dataclass
class MergeResult:
    """Shaped like a generation's result (no pictures) so the queue, the jobs API and History-free viewers
    read it the same way; `checkpoint` is the new model's name in the lists."""

    request: MergeRequest
    checkpoint: str = ""
    path: str = ""
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    detected_maps: list[DetectedMap] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)  # a generation's memory report; none here
    worker: str = ""  # run in this process (the head), never on a Ray worker

    @property
    def info(self) -> str:
        if self.interrupted:
            return "Merge interrupted; nothing was written."
        return f"Checkpoint saved as {self.checkpoint}"


@dataclass(frozen=True)
class _Plan:
    a: CheckpointInfo
    b: CheckpointInfo
    c: CheckpointInfo | None
    vae: Path | None
    target: Path


def _source(models: ModelManager, query: str, role: str) -> CheckpointInfo:
    if not query or not query.strip():
        raise RequestError(f"Choose a {role} model.")
    try:
        return models.resolve(query)
    except LookupError as exc:
        raise RequestError(f"{role.capitalize()} model: {exc.args[0]}") from None


def _same_family(a: CheckpointInfo, other: CheckpointInfo, role: str) -> None:
    if (other.family, other.inpainting, other.kind) != (a.family, a.inpainting, a.kind):
        raise RequestError(
            f"The {role} model {other.name} ({other.family_label or other.family}, {other.kind.replace('_', ' ')}) "
            f"is not of the primary model {a.name}'s family ({a.family_label or a.family}, "
            f"{a.kind.replace('_', ' ')}): only checkpoints of one family and one format can be merged.")


def _default_name(request: MergeRequest, a: CheckpointInfo, b: CheckpointInfo, c: CheckpointInfo | None) -> str:
    m = round(request.multiplier, 2)
    if request.method == merge.ADD_DIFFERENCE and c is not None:
        return f"{a.model_name}_add_{b.model_name}-{c.model_name}_{m}"
    return f"{a.model_name}_{round(1 - m, 2)}-{b.model_name}_{m}"


def _target(models: ModelManager, request: MergeRequest, a: CheckpointInfo, b: CheckpointInfo,
            c: CheckpointInfo | None) -> Path:
    typed = request.name.strip().removesuffix(".safetensors")
    name = typed or _default_name(request, a, b, c)
    if not _NAME.match(name):
        raise RequestError(f"Checkpoint name {name!r} is not allowed: use letters, digits, spaces and . , - _ ( ) "
                           "[ ] + =, start with a letter or digit, at most 120 characters, no folders.")
    suffix = ".safetensors" if a.kind == "single_file" else ""
    root = models.checkpoints.root
    target = root / f"{name}{suffix}"
    if target.exists():
        if typed:
            raise RequestError(f"A checkpoint named {target.name} already exists; choose another name "
                               "(the merger never overwrites).")
        n = 1
        while (root / f"{name}-{n}{suffix}").exists():
            n += 1
        target = root / f"{name}-{n}{suffix}"
    return target


def _size(info: CheckpointInfo) -> int:
    if info.path.is_file():
        return info.path.stat().st_size
    return sum(p.stat().st_size for p in info.path.rglob("*") if p.is_file())


def plan(request: MergeRequest, models: ModelManager) -> _Plan:
    """Check everything that can be checked before the job waits in the queue; RequestError says what to fix."""
    if request.method not in merge.METHODS:
        raise RequestError(f"Unknown merge method {request.method!r}; use one of {', '.join(merge.METHODS)}.")
    for value, what in ((request.multiplier, "Multiplier"), *((w, "A block weight") for w in request.block_weights)):
        if not -1.0 <= float(value) <= 2.0:
            raise RequestError(f"{what} must be between -1 and 2 (0 keeps the primary, 1 the secondary), "
                               f"but is {value}.")
    a = _source(models, request.primary, "primary")
    b = _source(models, request.secondary, "secondary")
    _same_family(a, b, "secondary")
    c = None
    if request.method == merge.ADD_DIFFERENCE:
        c = _source(models, request.tertiary, "tertiary")
        _same_family(a, c, "tertiary")
    elif request.tertiary.strip():
        raise RequestError("A tertiary model is used only by Add difference; clear it or choose Add difference.")
    vae = None
    if request.bake_in_vae and request.bake_in_vae != NO_VAE:
        try:
            vae = models.find_vae(request.bake_in_vae).path
        except LookupError as exc:
            raise RequestError(str(exc.args[0])) from None
    target = _target(models, request, a, b, c)
    need = _size(a) * (1 if not request.save_as_half else 0.6)
    free = shutil.disk_usage(target.parent).free
    if free < need:
        raise RequestError(f"Not enough disk space in {target.parent} for the merged checkpoint: about "
                           f"{need / 2**30:.1f} GB needed, {free / 2**30:.1f} GB free.")
    return _Plan(a, b, c, vae, target)


def check(request: MergeRequest, models: ModelManager) -> MergeRequest:
    plan(request, models)
    return request


def _recipe(request: MergeRequest, plan_: _Plan, hashes: dict[str, str | None]) -> dict[str, Any]:
    """A1111's `sd_merge_recipe` fields, plus the block weights (ours; A1111 has no block merge)."""
    return {
        "type": "webui", "primary_model_hash": hashes["a"], "secondary_model_hash": hashes["b"],
        "tertiary_model_hash": hashes.get("c"), "interp_method": merge.METHODS[request.method],
        "multiplier": request.multiplier, "save_as_half": request.save_as_half,
        "custom_name": request.name, "config_source": 0,
        "bake_in_vae": plan_.vae.name if plan_.vae else NO_VAE, "discard_weights": "",
        "is_inpainting": plan_.a.inpainting, "is_instruct_pix2pix": False,
        "block_weights": list(request.block_weights) or None,
    }


def _metadata(request: MergeRequest, plan_: _Plan, models: ModelManager, sources: dict[str, merge.Weights]
              ) -> dict[str, str]:
    infos = {"a": plan_.a, "b": plan_.b, **({"c": plan_.c} if plan_.c else {})}
    hashed = {role: models.checkpoints.ensure_hash(info) for role, info in infos.items()}
    hashes: dict[str, str | None] = {role: info.sha256 for role, info in hashed.items()}
    merged_models: dict[str, Any] = {}
    for role, info in hashed.items():
        parent = sources[role].metadata
        try:  # a source that was itself merged brings its own ancestry, as A1111 keeps it
            merged_models.update(json.loads(parent.get("sd_merge_models", "{}")))
        except ValueError:
            log.warning("ignoring unreadable sd_merge_models in %s", info.name)
        merged_models[info.sha256] = {"name": info.name, "legacy_hash": None,
                                      "sd_merge_recipe": _loads(parent.get("sd_merge_recipe"))}
    return {"format": "pt", "sd_merge_recipe": json.dumps(_recipe(request, plan_, hashes)),
            "sd_merge_models": json.dumps(merged_models)}


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def run(request: MergeRequest, models: ModelManager, control: JobControl | None = None) -> MergeResult:
    """Merge, write, rescan. Interrupt stops between weights and writes nothing."""
    plan_ = plan(request, models)  # again: the disk may have changed while the job waited
    control = control or JobControl()
    sources = {"a": merge.read_weights(plan_.a.path, plan_.a.kind),
               "b": merge.read_weights(plan_.b.path, plan_.b.kind)}
    if plan_.c is not None:
        sources["c"] = merge.read_weights(plan_.c.path, plan_.c.kind)

    def on_progress(n: int, total: int) -> None:
        step = n * PROGRESS_STEPS // total
        if control.on_step is not None and step != (n - 1) * PROGRESS_STEPS // total:
            control.on_step(StepInfo(step=step, steps=PROGRESS_STEPS, batch_index=0, batch_count=1))

    try:
        tensors, warnings = merge.merge_state_dicts(
            sources["a"], sources["b"], sources.get("c"), method=request.method, multiplier=request.multiplier,
            block_weights=request.block_weights, save_as_half=request.save_as_half, on_progress=on_progress,
            interrupted=control.interrupt.is_set)
    except InterruptedError:
        return MergeResult(request=request, interrupted=True)
    except merge.MergeError as exc:
        raise RequestError(str(exc)) from None
    try:
        if plan_.vae is not None:
            merge.bake_vae(tensors, merge.read_weights(plan_.vae, "single_file").tensors, plan_.a.kind, plan_.vae.name)
        metadata = _metadata(request, plan_, models, sources)
        if plan_.a.kind == "single_file":
            merge.write_single_file(tensors, metadata, plan_.target)
        else:
            merge.write_diffusers_folder(tensors, metadata, plan_.a.path, plan_.target)
    except merge.MergeError as exc:
        raise RequestError(str(exc)) from None
    models.refresh()
    name = plan_.target.relative_to(models.checkpoints.root).as_posix()
    log.info("merged %s + %s into %s", plan_.a.name, plan_.b.name, name)
    return MergeResult(request=request, checkpoint=name, path=str(plan_.target), warnings=warnings)
