"""The one model manager shared by every tab and the API.

It resolves the checkpoint a request names, keeps recently used pipelines in RAM (LRU, `--models-in-ram`),
and lends a pipeline for one job with that job's VAE. Nothing here is global: `webui.py` builds one manager
and passes it in. Jobs run one at a time on the worker, but listing and refresh happen from UI threads, so
loading and lending are guarded by a lock.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from modules.core.requests import VAE_AUTOMATIC, VAE_NONE
from modules.engine.devices import DeviceConfig
from modules.engine.placement import Placement, file_has_fp8, place
from modules.engine import image_embeddings
from modules.engine.controlnet.preprocessors import REFERENCE_MODULES
from modules.engine.models import companion_single, controlnets, families, ipadapters, module_files
from modules.engine.models import embeddings as embedding_files
from modules.engine.models import loras as lora_files
from modules.engine.models.controlnets import ControlNetError, ControlNetInfo
from modules.engine.models.embeddings import EmbeddingInfo, EmbeddingSet
from modules.engine.models.loras import AdapterSet, LoraError, LoraInfo
from modules.engine.models.registry import CheckpointInfo, CheckpointRegistry, HashCache, VaeInfo, scan_vaes

log = logging.getLogger(__name__)


class ModelNotFound(LookupError):
    """The request names a checkpoint or VAE that is not there; the message lists what is."""


@dataclass
class LoadedModel:
    info: CheckpointInfo
    pipe: Any  # a diffusers StableDiffusion(XL)Pipeline on the manager's device and dtype
    own_vae: Any
    scheduler_config: dict[str, Any]
    load_seconds: float
    derived: dict[str, Any] = field(default_factory=dict)  # pipelines shared via from_pipe, by class name
    adapters: AdapterSet = field(default_factory=AdapterSet)  # LoRAs loaded into this pipeline (LRU)
    embeddings: EmbeddingSet = field(default_factory=EmbeddingSet)  # textual inversions added to its tokenizer
    placement: Placement | None = None  # memory policy and fp8 storage (engine/placement.py)


class LruCache:
    """A small ordered cache; evicted values are returned so the caller can free them deliberately."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Any, value: Any) -> list[Any]:
        self._items[key] = value
        self._items.move_to_end(key)
        evicted = []
        while len(self._items) > self.capacity:
            evicted.append(self._items.popitem(last=False)[1])
        return evicted

    def make_room(self) -> list[Any]:
        """Evict least recently used values until one more fits."""
        evicted = []
        while len(self._items) >= self.capacity:
            evicted.append(self._items.popitem(last=False)[1])
        return evicted

    def keys(self) -> list[Any]:
        return list(self._items)

    def drop(self, key: Any) -> Any | None:
        return self._items.pop(key, None)

    def clear(self) -> list[Any]:
        values = list(self._items.values())
        self._items.clear()
        return values


def release_memory() -> None:
    """Give freed model memory back to the OS, so RSS does not creep up over many switches."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc keeps freed arenas otherwise
    except OSError:
        pass


def stored_dtype(path: Path) -> torch.dtype | None:
    """The dtype a checkpoint's weights are stored in (safetensors only; None when unknown)."""
    from safetensors import safe_open

    candidates = [path] if path.is_file() else sorted(path.glob("unet/*.safetensors"))
    if not candidates or candidates[0].suffix != ".safetensors":
        return None
    names = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
    try:
        with safe_open(str(candidates[0]), framework="pt") as f:
            for key in f.keys():
                if key.endswith("weight"):
                    return names.get(f.get_slice(key).get_dtype())
    except Exception:  # a bad file is reported by the loader itself, with a better message
        return None
    return None


def load_pipeline(info: CheckpointInfo, device: DeviceConfig) -> Any:
    """Read a checkpoint from disk (offline) into a pipeline on the device."""
    from modules.engine.models.single_file import CheckpointError, ModelFamily, load_single_file

    if not info.usable:
        raise CheckpointError(f"{info.name} cannot be used: {info.error}")
    if not info.path.exists():
        raise CheckpointError(f"checkpoint file {info.path} is missing; press Refresh to rescan the models folder")
    # Read at the file's own dtype (memory-mapped, no conversion), then convert once when placed (engine/placement.py).
    read_dtype = stored_dtype(info.path) or device.dtype
    if info.flux_file and companion_single.is_companion_family(info.family):
        try:
            pipe = companion_single.load_pipeline(info.path, info.parts, info.config_folders, device.dtype)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{info.name} could not be loaded: {exc}") from exc
    elif info.flux_file:
        from modules.engine.models import transformer_files

        reader = transformer_files.reader(info.family)
        if reader is None:
            raise CheckpointError(f"{info.name} ({info.family_label}) is a transformer file of a family no reader "
                                  "takes; press Refresh")
        try:
            pipe = reader.load_pipeline(info.path, {m.role: m for m in info.parts}, info.config_folders,
                                        device.dtype)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{info.name} could not be loaded: {exc}") from exc
    elif info.kind == "gguf":
        from modules.engine.models import gguf_files

        if not info.parts and info.companion is None:
            raise CheckpointError(f"{info.name} needs text-encoder and VAE files (or a Flux diffusers folder)")
        try:
            if info.parts:  # module files, as for a Flux safetensors transformer
                pipe = gguf_files.load_pipeline_with_parts(info.path, {m.role: m for m in info.parts},
                                                           info.config_folders, device.dtype)
            else:
                pipe = gguf_files.load_pipeline(info.path, info.companion, device.dtype)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{info.name} could not be loaded: {exc}") from exc
    elif info.kind == "diffusers":
        from diffusers import DiffusionPipeline

        kwargs: dict[str, Any] = {"dtype": read_dtype, "local_files_only": True}
        if info.family not in ("sdxl", "sdxl-refiner") and not families.is_flow(info.family):
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        try:
            pipe = DiffusionPipeline.from_pretrained(str(info.path), **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{info.name} could not be loaded: {exc}") from exc
    else:
        family = ModelFamily(name=info.family or "sd1", label=info.family_label, inpainting=info.inpainting,
                             prediction=info.prediction)
        pipe = load_single_file(info.path, family, dtype=read_dtype)
    # Not placed here: ModelManager.load puts it on the device by the memory policy (engine/placement.py).
    pipe.set_progress_bar_config(disable=True)
    return pipe


class ModelManager:
    def __init__(self, *, checkpoints_dir: Path, vae_dir: Path, cache_file: Path, device: DeviceConfig,
                 models_in_ram: int = 2, loader: Callable[[CheckpointInfo, DeviceConfig], Any] = load_pipeline,
                 preferred: str = "demo-shapes", controlnet_dir: Path | None = None,
                 controlnets_in_ram: int = 2, lora_dir: Path | None = None,
                 embeddings_dir: Path | None = None, ipadapter_dir: Path | None = None,
                 clip_vision_dir: Path | None = None, text_encoder_dirs: tuple[Path, ...] = (),
                 unet_dirs: tuple[Path, ...] = ()) -> None:
        self.device = device
        # Separate text-encoder files (and, from vae_dir, VAE files) for checkpoints that lack them.
        self.text_encoder_dirs = tuple(text_encoder_dirs)
        self.modules: list[module_files.ModuleInfo] = []
        self.ipadapter_dir = ipadapter_dir  # IP-Adapters; models/ControlNet is searched for them too
        self.clip_vision_dir = clip_vision_dir
        self.ipadapters: list[ipadapters.IPAdapterInfo] = []
        self.clip_vision: list[image_embeddings.ClipVisionInfo] = []
        self._ipadapter_cache = LruCache(4)  # state dicts and encoders, by file and dtype
        self.embeddings_dir = embeddings_dir
        self.embeddings: list[EmbeddingInfo] = []
        self.lora_dir = lora_dir
        self.loras: list[LoraInfo] = []
        self._file_hashes: dict[tuple[str, str, int, float], str] = {}  # LoRA and embedding hashes, by version
        self.controlnet_dir = controlnet_dir
        self.controlnets: list[ControlNetInfo] = []
        self._controlnet_cache = LruCache(controlnets_in_ram)
        self.checkpoints = CheckpointRegistry(checkpoints_dir, HashCache(cache_file), device.device.type,
                                              extra_roots=tuple(unet_dirs))
        self.vae_dir = vae_dir
        self.vaes: list[VaeInfo] = []
        self.preferred = preferred
        self._loader = loader
        self._cache = LruCache(models_in_ram)
        self._vae_cache = LruCache(2)
        self._lock = threading.RLock()
        self.listeners: list[Callable[[LoadedModel], None]] = []  # "model loaded" hooks
        self.fp8_checkpoints: set[str] = set()  # names whose UNet keeps fp8 weights (set_fp8)

    # ------------------------------------------------------------------ discovery
    def refresh(self) -> list[CheckpointInfo]:
        found = self.checkpoints.refresh()
        self.vaes = scan_vaes(self.vae_dir)
        self.modules = module_files.scan((*self.text_encoder_dirs, self.vae_dir))
        self.refresh_controlnets()
        self.loras = lora_files.scan(self.lora_dir)
        self.embeddings = embedding_files.scan(self.embeddings_dir)
        return found

    def use_embeddings(self, loaded: LoadedModel, text: str) -> tuple[list[tuple[str, str]], list[str]]:
        """Load the embeddings `text` mentions into the loaded pipeline: ([(name, short hash)], warnings)."""
        used, warnings = [], []
        for info in embedding_files.mentioned(text, self.embeddings):
            note = loaded.embeddings.ensure(loaded.pipe, info)
            if note:
                warnings.append(note)
                continue
            used.append((info.name, self._cached_hash("ti", info.path, info.sha256)[:12]))
        return used, warnings

    def find_lora(self, name: str) -> LoraInfo | None:
        """By file name (A1111's default) or, failing that, by the alias in its metadata."""
        for info in self.loras:
            if info.name == name:
                return info
        for info in self.loras:
            if info.alias == name or info.path.name == name:
                return info
        return None

    def lora_hash(self, info: LoraInfo) -> str:
        return self._cached_hash("lora", info.path, lambda: lora_files.lora_hash(info.path))

    def _cached_hash(self, kind: str, path: Path, compute: Callable[[], str]) -> str:
        """Hashes for the infotext are computed once per file version (size and mtime), not per job."""
        stat = path.stat()
        key = (kind, str(path), stat.st_size, stat.st_mtime)
        if key not in self._file_hashes:
            self._file_hashes[key] = compute()
        return self._file_hashes[key]

    def check_lora_family(self, info: LoraInfo, checkpoint: CheckpointInfo) -> None:
        if info.error:
            raise LoraError(f"LoRA {info.name} cannot be used: it {info.error}.")
        if info.family is not None and not families.takes_lora(checkpoint.family, info.family):
            raise LoraError(f"LoRA {info.name} is for {info.family_label} models, but the checkpoint "
                            f"{checkpoint.name} is {checkpoint.family_label}. Remove the tag, or choose a "
                            f"{info.family_label} checkpoint.")

    def refresh_controlnets(self) -> list[ControlNetInfo]:
        self.controlnets = controlnets.scan(self.controlnet_dir) if self.controlnet_dir else []
        self.ipadapters = ipadapters.scan(self.ipadapter_dir, self.controlnet_dir)
        self.clip_vision = image_embeddings.scan(self.clip_vision_dir)
        return self.controlnets

    def find_ip_adapter(self, name: str) -> ipadapters.IPAdapterInfo:
        """By the name sd-webui-controlnet lists ("ip-adapter_sd15"), also with its extension or "[hash]"."""
        query = name.strip()
        if query.endswith("]") and " [" in query:
            query = query[:query.rindex(" [")]
        for info in self.ipadapters:
            if query in (info.name, info.path.name, info.path.stem, Path(info.name).name):
                return info
        names = ", ".join(i.name for i in self.ipadapters) or "none"
        raise ModelNotFound(f"IP-Adapter model {name!r} not found in {self.ipadapter_dir} (nor in "
                            f"{self.controlnet_dir}). Available: {names}.")

    def usable_ip_adapter(self, name: str, module: str, checkpoint: CheckpointInfo
                          ) -> tuple[ipadapters.IPAdapterInfo, image_embeddings.ClipVisionInfo]:
        """The IP-Adapter and the encoder it needs for a job on `checkpoint`; IPAdapterError (or ModelNotFound)
        says why not. Checked at submit time and again when the job loads it."""
        info = self.find_ip_adapter(name)
        known = {k.casefold(): v for k, v in REFERENCE_MODULES.items()}
        ipadapters.check_module(info, module, known.get(module.strip().casefold()), module.strip().casefold() in known)
        ipadapters.check_family(info, checkpoint.family, checkpoint.name)
        return info, ipadapters.choose_encoder(info, self.clip_vision, self.clip_vision_dir)

    def ip_adapter(self, name: str, module: str, checkpoint: CheckpointInfo) -> ipadapters.LoadedIPAdapter:
        """The IP-Adapter's weights and its CLIP vision encoder, loaded (kept in a small LRU cache)."""
        info, encoder_info = self.usable_ip_adapter(name, module, checkpoint)
        with self._lock:
            weights = self._cached(("ipadapter", str(info.path)), lambda: ipadapters.load(info))
            encoder = self._cached(("clip_vision", str(encoder_info.path), str(self.device.dtype)),
                                   lambda: image_embeddings.load(encoder_info, self.device.dtype, self.device.device))
        return ipadapters.LoadedIPAdapter(info, weights, encoder, encoder_info.name)

    def _cached(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        value = self._ipadapter_cache.get(key)
        if value is None:
            if self._ipadapter_cache.make_room():
                release_memory()
            started = time.perf_counter()
            value = make()
            log.info("loaded %s %s in %.2f s", key[0], Path(key[1]).name, time.perf_counter() - started)
            self._ipadapter_cache.put(key, value)
        return value

    def find_controlnet(self, name: str) -> ControlNetInfo:
        """By the name sd-webui-controlnet lists ("control_v11p_sd15_scribble"), also accepted with its file
        extension or its "[hash]" suffix, as its API clients send them."""
        query = name.strip()
        if query.endswith("]") and " [" in query:
            query = query[:query.rindex(" [")]
        for info in self.controlnets:
            if query in (info.name, info.path.name, info.path.stem, Path(info.name).name):
                return info
        names = ", ".join(i.name for i in self.controlnets) or "none"
        raise ModelNotFound(f"ControlNet model {name!r} not found in {self.controlnet_dir}. Available: {names}.")

    def usable_controlnet(self, name: str, checkpoint: CheckpointInfo) -> ControlNetInfo:
        """The ControlNet `name` if a job on `checkpoint` can use it; ControlNetError (or ModelNotFound) says
        why not. Checked at submit time and again when the job loads it."""
        info = self.find_controlnet(name)
        if info.error:
            raise ControlNetError(f"ControlNet {info.name} cannot be used: it {info.error}.")
        if info.family != families.checkpoint_family_group(checkpoint.family):
            raise ControlNetError(f"ControlNet {info.name} is for {info.family_label} models, but the checkpoint "
                                  f"{checkpoint.name} is {checkpoint.family_label}. Choose a ControlNet made for "
                                  f"{checkpoint.family_label}.")
        return info

    def controlnet(self, name: str, checkpoint: CheckpointInfo) -> Any:
        """The loaded ControlNet for a job on `checkpoint`; refused when the families differ."""
        info = self.usable_controlnet(name, checkpoint)
        with self._lock:
            key = (str(info.path), str(self.device.dtype))
            model = self._controlnet_cache.get(key)
            if model is None:
                if self._controlnet_cache.make_room():
                    release_memory()  # on a GPU the evicted ControlNet's memory is needed right now
                started = time.perf_counter()
                model = controlnets.load_controlnet(info, self.device.dtype, self.device.device)
                log.info("loaded ControlNet %s in %.2f s", info.name, time.perf_counter() - started)
                self._controlnet_cache.put(key, model)
            return model

    def default_checkpoint(self) -> CheckpointInfo | None:
        """The user's own checkpoints come first; the bundled demo model when there is nothing else."""
        usable = self.checkpoints.usable()
        if not usable:
            return None
        own = [i for i in usable if i.family not in ("demo", "demo-flux")]  # the bundled demo members come last
        if own:
            return own[0]
        for info in usable:
            if info.name == self.preferred:
                return info
        return usable[0]

    def resolve(self, query: str | None) -> CheckpointInfo:
        if not query:
            info = self.default_checkpoint()
            if info is None:
                raise ModelNotFound(f"No usable checkpoint in {self.checkpoints.root}. "
                                    "Put a .safetensors checkpoint there and press Refresh.")
            return info
        info = self.checkpoints.find(query)
        if info is None:
            names = ", ".join(i.title for i in self.checkpoints.usable()) or "none"
            raise ModelNotFound(f"Checkpoint {query!r} not found. Available: {names}.")
        if not info.usable:
            raise ModelNotFound(f"Checkpoint {info.name} cannot be used: {info.error}")
        return info

    def find_vae(self, name: str) -> VaeInfo:
        for vae in self.vaes:
            if name in (vae.name, vae.path.name, vae.path.stem):
                return vae
        names = ", ".join(v.name for v in self.vaes) or "none"
        raise ModelNotFound(f"VAE {name!r} not found in {self.vae_dir}. Available: {names}.")

    def find_module(self, name: str) -> module_files.ModuleInfo:
        """A text-encoder or VAE file by file name, stem or path (Forge's clients send paths)."""
        from modules.core.additional_modules import file_name

        wanted = file_name(name)
        for module in self.modules:
            if wanted in (module.name, module.path.stem) or name == str(module.path):
                return module
        names = ", ".join(m.name for m in self.modules) or "none"
        folders = ", ".join(str(d) for d in (*self.text_encoder_dirs, self.vae_dir))
        raise ModelNotFound(f"VAE / Text encoder file {name!r} not found in {folders}. Available: {names}.")

    def with_parts(self, info: CheckpointInfo, modules: tuple[str, ...] | list[str] = (),
                   vae: str = VAE_AUTOMATIC) -> CheckpointInfo:
        """The checkpoint with the text encoders and VAE a job uses: those chosen (and a VAE file named as A1111's
        sd_vae), else its own, else the one file of each kind that fits. Only transformer files (Flux, SD 3.x,
        Chroma...) take them; the error names the missing file and where it goes."""
        from modules.engine.models import transformer_files
        from modules.engine.models.single_file import CheckpointError

        if not info.takes_parts:
            if modules:
                raise CheckpointError(f"VAE / Text encoder files go with a transformer file (Flux, SD 3.x, Chroma, "
                                      f"Z-Image, Qwen-Image, GGUF); {info.name} "
                                      f"({info.family_label}) carries its own. Clear the 'VAE / Text encoder' choice.")
            return info
        chosen = [self.find_module(n) for n in modules]
        if vae not in (VAE_AUTOMATIC, VAE_NONE, "") and all(m.role != "vae" for m in chosen):
            chosen.append(self.find_module(vae))
        if info.kind == "single_file" and companion_single.is_companion_family(info.family):  # Z-Image, Qwen-Image
            try:
                return companion_single.with_parts(info, chosen, self.modules, [
                    i.path for i in self.checkpoints.all() if i.kind == "diffusers"])
            except (companion_single.CompanionFileError, OSError) as exc:
                raise CheckpointError(f"{info.name} cannot be used: {exc}") from exc
        if info.kind == "gguf":
            return self._gguf_parts(info, chosen)
        reader = transformer_files.reader(info.family)  # Flux.1, SD 3.x, Chroma: engine/models/*_single.py
        if reader is None:
            raise CheckpointError(f"{info.name} ({info.family_label}) takes no 'VAE / Text encoder' files here")
        try:
            facts = reader.describe(info.path)
            parts = reader.choose_parts(facts, chosen, self.modules, info.name)
        except (*transformer_files.ERRORS, OSError) as exc:
            raise CheckpointError(f"{info.name} cannot be used: {exc}") from exc
        folders = reader.folders(i.path for i in self.checkpoints.all() if i.kind == "diffusers")
        return replace(info, parts=tuple(parts[r] for r in reader.ROLES), config_folders=tuple(folders))

    def _gguf_parts(self, info: CheckpointInfo, chosen: list[module_files.ModuleInfo]) -> CheckpointInfo:
        """A GGUF Flux transformer's parts: module files chosen or fitting, as for a Flux safetensors file; when they
        do not make a whole set and none was chosen, its companion folder lends its own (parts left empty)."""
        from modules.engine.models import flux_single, gguf_files
        from modules.engine.models.single_file import CheckpointError

        try:
            facts = gguf_files.flux_facts(gguf_files.describe(info.path))
            parts = flux_single.choose_parts(facts, chosen, self.modules, info.name)
        except flux_single.MissingPartError as exc:
            if info.companion is not None and not chosen:
                return replace(info, parts=(), config_folders=())
            raise CheckpointError(f"{info.name} cannot be used: {exc} (or put a Flux.1 {facts.variant} diffusers "
                                  "folder in models/Stable-diffusion to lend them)") from exc
        except (gguf_files.GgufError, flux_single.FluxPartsError, OSError) as exc:
            raise CheckpointError(f"{info.name} cannot be used: {exc}") from exc
        folders = flux_single.flux_folders(i.path for i in self.checkpoints.all() if i.kind == "diffusers")
        return replace(info, parts=tuple(parts[r] for r in flux_single.ROLES), config_folders=tuple(folders))

    @staticmethod
    def _key(info: CheckpointInfo) -> str:
        # A Flux file with other text encoders or VAE is another model in the cache.
        return "|".join([str(info.path), *(str(m.path) for m in info.parts)])

    def loaded_names(self) -> list[str]:
        return [str(key) for key in self._cache.keys()]

    # ------------------------------------------------------------------ loading
    def load(self, info: CheckpointInfo) -> LoadedModel:
        with self._lock:
            if info.takes_parts and not info.parts:  # loaded without a job (model switch): the parts that fit
                info = self.with_parts(info)
            key = self._key(info)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            # Evict first, so a switch never holds more than models_in_ram models at its peak.
            evicted = self._cache.make_room()
            if evicted:
                log.info("evicting %s from RAM", ", ".join(m.info.name for m in evicted))
                for model in evicted:
                    model.derived.clear()
                del evicted, model
                release_memory()
            started = time.perf_counter()
            pipe = self._loader(info, self.device)
            placement = place(pipe, self.device, fp8=info.name in self.fp8_checkpoints,
                              fp8_file=info.path.exists() and file_has_fp8(info.path))
            loaded = LoadedModel(info=info, pipe=pipe, own_vae=pipe.vae, scheduler_config=dict(pipe.scheduler.config),
                                 load_seconds=time.perf_counter() - started, placement=placement)
            loaded.info = self.checkpoints.ensure_hash(info)
            self._cache.put(key, loaded)
            log.info("loaded %s (%s) in %.2f s", info.name, info.family_label, loaded.load_seconds)
            for listener in self.listeners:
                listener(loaded)
            return loaded

    def _vae_for(self, loaded: LoadedModel, name: str) -> Any:
        if name in (VAE_AUTOMATIC, VAE_NONE, ""):
            return loaded.own_vae
        from modules.engine.models.single_file import CheckpointError, ModelFamily, load_vae_file

        vae_info = self.find_vae(name)
        if loaded.info.family not in ("sd1", "sd2", "sd2-v", "sdxl", "sdxl-refiner"):
            raise CheckpointError(f"VAE files are for SD 1.x/2.x/XL checkpoints; {loaded.info.name} is "
                                  f"{loaded.info.family_label}. Choose 'Automatic'.")
        key = (str(vae_info.path), loaded.info.family)
        vae = self._vae_cache.get(key)
        if vae is None:
            family = ModelFamily(name=loaded.info.family, label=loaded.info.family_label)
            vae = load_vae_file(vae_info.path, family, dtype=self.device.dtype).to(self.device.device)
            self._vae_cache.put(key, vae)
        return vae

    @contextmanager
    def use(self, checkpoint: str | None, vae: str = VAE_AUTOMATIC,
            loras: list[tuple[LoraInfo, float, float]] | tuple = (),
            modules: tuple[str, ...] = ()) -> Iterator[LoadedModel]:
        """Lend the checkpoint's pipeline for one job, with the job's VAE and LoRAs (info, text-encoder weight,
        UNet weight); afterwards the checkpoint's own VAE returns and the LoRAs are switched off."""
        with self._lock:
            info = self.with_parts(self.resolve(checkpoint), modules, vae)
            loaded = self.load(info)
            pipe = loaded.pipe
            pipe.vae = loaded.own_vae if info.takes_parts else self._vae_for(loaded, vae)  # a file's VAE is a part
            try:
                if loras:
                    for info, _, _ in loras:
                        self.check_lora_family(info, loaded.info)
                    names: list[str] = []
                    for info, _, _ in loras:
                        names.append(loaded.adapters.ensure(pipe, info, keep=frozenset(names)))
                    loaded.adapters.activate(pipe, [(n, te, unet) for n, (_, te, unet) in zip(names, loras)])
                yield loaded
            finally:
                loaded.adapters.deactivate(pipe)
                pipe.vae = loaded.own_vae

    def set_fp8(self, name: str, on: bool) -> bool:
        """Store the checkpoint's UNet weights in fp8 (or not) from its next load; a loaded copy is dropped so the
        next job loads it the new way. Returns whether anything changed."""
        with self._lock:
            if (name in self.fp8_checkpoints) == on:
                return False
            (self.fp8_checkpoints.add if on else self.fp8_checkpoints.discard)(name)
            info = self.checkpoints.find(name)
            if info is not None:
                for key in self._cache.keys():
                    if key == str(info.path) or key.startswith(f"{info.path}|"):
                        self._cache.drop(key)
                release_memory()
            return True

    def unload_all(self) -> None:
        with self._lock:
            self._cache.clear()
            self._vae_cache.clear()
            self._controlnet_cache.clear()
            self._ipadapter_cache.clear()
            release_memory()
