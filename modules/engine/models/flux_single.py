"""A Flux pipeline from single files: the transformer in BFL's release layout (alone, or an all-in-one file that
also carries CLIP-L, T5 and the VAE, as ComfyUI saves checkpoints) plus the text-encoder and VAE files the user
chose or that fit (engine/models/module_files.py).

Architectures and tokenizers never come from the hub. Each part's config is the first of these whose shapes match
the part's weights: our shipped Flux.1 configs (`configs/flux/`: CLIP-L and T5-XXL with their tokenizers, the
16-channel VAE; schedulers of dev and schnell), then the Flux diffusers folders in models/Stable-diffusion (the demo
member's small encoders match its own folder, which holds their tokenizers).

Weights are read tensor by tensor from the memory-mapped file and converted straight to the compute dtype (an fp8
file's weights stay fp8: placement keeps them so and casts each layer as it runs), then assigned into modules built
without memory (no random init, no fp32 detour).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine.models.flow_families import BFL_PREFIX
from modules.engine.models.flux_files import FluxFileError, bfl_to_diffusers, config_from_bfl, strip_prefix
from modules.engine.models.module_files import ModuleInfo, clip_shape, describe_shapes, read_header, storage_dtype
from modules.engine.models.module_files import t5_shape, vae_shape

CONFIGS = Path(__file__).resolve().parent / "configs"
SHIPPED = CONFIGS / "flux"
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
ROLES = ("clip", "t5", "vae")
# What each role needs, said as a user finds the file (ComfyUI's and Forge's usual names).
WANTED = {"clip": "a CLIP-L text encoder (clip_l.safetensors) in models/text_encoder",
          "t5": "a T5-XXL text encoder (t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors) in models/text_encoder",
          "vae": "the Flux VAE (ae.safetensors) in models/VAE"}
_PART = {"clip": ("text_encoder", "tokenizer"), "t5": ("text_encoder_2", "tokenizer_2"), "vae": ("vae", None)}


class FluxPartsError(ValueError):
    """The files a Flux transformer needs are missing, ambiguous or do not fit; the message names which and where."""


class MissingPartError(FluxPartsError):
    """No file fits one of the parts (a GGUF transformer may then borrow a diffusers folder's)."""


@dataclass(frozen=True)
class FluxFile:
    """What a Flux single file holds: the transformer's config, and the parts it carries itself (all-in-one)."""

    config: dict[str, Any]
    variant: str  # "dev" | "schnell"
    dtype: str
    embedded: tuple[ModuleInfo, ...] = ()  # its own CLIP / T5 / VAE, with their prefixes
    # Our demo member's file says so in its metadata, as its LoRA does (`ss_base_model_version`), so that the LoRA
    # trained for it is offered on it and Flux.1 LoRAs are refused.
    demo: bool = False

    @property
    def label(self) -> str:
        return (f"Flux.1 {self.variant} transformer ({self.dtype}, {self.config['num_layers']}+"
                f"{self.config['num_single_layers']} blocks){carried(self.embedded)}")

    slots = ROLES

    def wanted(self, role: str) -> str:
        """The file a missing part is, said as a user finds it."""
        return WANTED[role] + _width_note(self, role)

    def fits(self, module: ModuleInfo) -> bool:
        """Whether a module's widths fit this transformer in its role."""
        if module.role == "clip":
            return module.shape[1] == self.config["pooled_projection_dim"]
        if module.role == "t5":
            return module.shape[1] == self.config["joint_attention_dim"]
        if module.role == "vae":
            return module.shape[0] * 4 == self.config["in_channels"]
        return False


def describe(path: Path) -> FluxFile:
    """A Flux single file's facts from its header (FluxFileError when it is not one we can run)."""
    shapes, dtypes, metadata = read_header(path)
    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    config = config_from_bfl(strip_prefix(meta), metadata)
    dtype = transformer_dtype(shapes, dtypes)
    embedded = []
    if any(k.startswith(BFL_PREFIX) for k in shapes):  # anything besides the transformer is an all-in-one's part
        rest = {k: s for k, s in shapes.items() if not k.startswith(BFL_PREFIX)}
        for probe_prefixes, probe in ((("text_encoders.clip_l.transformer.", "cond_stage_model.clip_l.transformer."),
                                       clip_shape),
                                      (("text_encoders.t5xxl.transformer.", "cond_stage_model.t5xxl.transformer."),
                                       t5_shape),
                                      (("first_stage_model.", "vae."), vae_shape)):
            for prefix in probe_prefixes:
                if probe(rest, prefix) is not None:
                    embedded.append(embedded_part(path, rest, dtypes, prefix))
                    break
    return FluxFile(config, "dev" if config["guidance_embeds"] else "schnell", dtype, tuple(embedded),
                    demo=metadata.get("modelspec.architecture") == "demo-flux")


# What every family's reader (Flux, SD 3.x, Chroma) reads off an all-in-one file's header alike.

def transformer_dtype(shapes: Mapping[str, Any], dtypes: Mapping[str, str]) -> str:
    """The dtype the transformer's weights are stored in (an all-in-one's other parts aside)."""
    keys = [k for k in shapes if k.startswith(BFL_PREFIX)] or list(shapes)
    return storage_dtype(dtypes[k] for k in keys if k.endswith(".weight"))


def embedded_part(path: Path, shapes: Mapping[str, Any], dtypes: Mapping[str, str], prefix: str) -> ModuleInfo:
    """The part an all-in-one file carries under `prefix`, described as its own file would be."""
    part = {k: s for k, s in shapes.items() if k.startswith(prefix)}
    return describe_shapes(path.name, path, part, storage_dtype(dtypes[k] for k in part if k.endswith(".weight")))


def carried(embedded: Sequence[ModuleInfo]) -> str:
    """' with CLIP-L text encoder, VAE' for a label: the parts a file carries, without their dtypes."""
    return "" if not embedded else " with " + ", ".join(m.label.split(" (")[0] for m in embedded)


_SLOT_NAMES = {"clip": "CLIP", "clip_g": "CLIP-G", "t5": "T5", "vae": "VAE"}


def choose_parts(facts: Any, chosen: Sequence[ModuleInfo], available: Sequence[ModuleInfo],
                 file_name: str) -> dict[str, ModuleInfo]:
    """The text encoders and VAE for this transformer (any family's facts with `slots`, `fits`, `wanted`,
    `embedded`, `label`): the ones chosen, else its own, else the one file of the role that fits. FluxPartsError
    names what is missing or ambiguous, and where to put it."""
    parts: dict[str, ModuleInfo] = {}
    for module in chosen:
        if not module.usable:
            raise FluxPartsError(f"{module.name} cannot be used: {module.error}")
        if module.role is None or not facts.fits(module):
            raise FluxPartsError(f"{module.name} is a {module.label}, which does not fit {file_name} (a "
                                 f"{facts.label}); remove it from 'VAE / Text encoder'")
        if module.role in parts:
            raise FluxPartsError(f"{parts[module.role].name} and {module.name} were both chosen as the "
                                 f"{_SLOT_NAMES.get(module.role, module.role)} part; choose one")
        parts[module.role] = module
    for module in facts.embedded:
        if module.role and facts.fits(module):
            parts.setdefault(module.role, module)
    for role in facts.slots:
        if role in parts:
            continue
        fitting = [m for m in available if m.usable and m.role == role and facts.fits(m)]
        if len(fitting) == 1:
            parts[role] = fitting[0]
        elif not fitting:
            raise MissingPartError(f"{file_name} holds only the transformer and needs {facts.wanted(role)}: put it "
                                 "there, press Refresh, and choose it under 'VAE / Text encoder'")
        else:
            raise FluxPartsError(f"several files fit {file_name} as its {_SLOT_NAMES.get(role, role)} part "
                                 f"({', '.join(m.name for m in fitting)}): choose one under 'VAE / Text encoder'")
    return parts


def _width_note(facts: FluxFile, role: str) -> str:
    flux1 = {"clip": ("pooled_projection_dim", 768), "t5": ("joint_attention_dim", 4096), "vae": ("in_channels", 64)}
    key, usual = flux1[role]
    if facts.config[key] == usual:
        return ""
    width = facts.config[key] // 4 if role == "vae" else facts.config[key]
    return f" ({width} {'latent channels' if role == 'vae' else 'wide'}, as this transformer takes)"


# ------------------------------------------------------------------------------------------- configs


def _signature(role: str, folder: Path) -> tuple[int, ...] | None:
    return signature_at(role, folder / _PART[role][0])


def signature_at(role: str, config_dir: Path) -> tuple[int, ...] | None:
    """What a part's shapes must be for the config in `config_dir` to fit it (see ModuleInfo.shape)."""
    try:
        config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if role in ("clip", "clip_g"):
        return config.get("vocab_size"), config.get("hidden_size"), config.get("num_hidden_layers")
    if role == "t5":
        return config.get("vocab_size"), config.get("d_model"), config.get("num_layers")
    return (config.get("latent_channels"), *config.get("block_out_channels", ()))


def _has_tokenizer(folder: Path) -> bool:
    return folder.is_dir() and any((folder / n).is_file() for n in ("tokenizer.json", "spiece.model", "vocab.json"))


def flux_folders(candidates: Iterable[Path]) -> list[Path]:
    """The Flux diffusers folders among these (their configs and tokenizers may serve single files)."""
    return pipeline_folders(candidates, ("FluxPipeline",))


def pipeline_folders(candidates: Iterable[Path], classes: Sequence[str]) -> list[Path]:
    """The diffusers folders among these whose pipeline is one of `classes`."""
    found = []
    for folder in candidates:
        try:
            index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if index.get("_class_name") in classes:
            found.append(folder)
    return found


def config_source(role: str, module: ModuleInfo, folders: Sequence[Path]) -> tuple[Path, Path | None]:
    """(folder holding the part's config, folder holding its tokenizer) for this module's shapes."""
    sub, tok = _PART[role]
    candidates = [(f / sub, f / tok if tok else None) for f in (SHIPPED, *folders)]
    config, tokenizer = find_config(role, module, candidates, "Flux.1's shipped configs nor any Flux diffusers "
                                                              "folder in models/Stable-diffusion")
    return config.parent, tokenizer.parent if tokenizer else None


def find_config(role: str, module: ModuleInfo, candidates: Sequence[tuple[Path, Path | None]],
                searched: str) -> tuple[Path, Path | None]:
    """(config folder, tokenizer folder) of the first candidate whose config fits this module's shapes; a
    candidate is (config folder, its tokenizer folder or None). `searched` says where they came from."""
    fitting = [(c, t) for c, t in candidates if signature_at(role, c) == tuple(module.shape)]
    if not fitting:
        raise FluxPartsError(f"{module.name} ({module.label}, shapes {module.shape}) matches neither {searched}, "
                             "so its architecture is unknown; put the model's diffusers folder there")
    if role == "vae":
        return fitting[0][0], None
    tokenizer = next((t for _, t in fitting if t is not None and _has_tokenizer(t)), None)
    if tokenizer is None:
        raise FluxPartsError(f"no tokenizer for {module.name} ({module.label}) was found: its shapes match a config "
                             f"without one; copy the model's diffusers folder (with its tokenizer) into "
                             "models/Stable-diffusion")
    return fitting[0][0], tokenizer


def scheduler_source(facts: FluxFile, folders: Sequence[Path]) -> Path:
    """The folder whose scheduler to use: a diffusers folder of this very transformer (the same config, as the demo
    member's), else Flux.1's own by variant (dev: resolution-dependent shift; schnell: none)."""
    same = same_transformer_folder(facts.config, folders, ignore=("guidance_embeds",))
    if same is not None and bool(_transformer_config(same).get("guidance_embeds")) == facts.config["guidance_embeds"]:
        return same
    return SHIPPED if facts.variant == "dev" else CONFIGS / "flux-schnell"


def same_transformer_folder(config: Mapping[str, Any], folders: Sequence[Path],
                            ignore: Iterable[str] = ()) -> Path | None:
    """The first diffusers folder whose transformer has this config (keys in `ignore` aside): its scheduler is the
    one this transformer was made for (every family's single-file reader asks)."""
    skip = set(ignore)
    for folder in folders:
        theirs = _transformer_config(folder)
        if theirs and all(_same(theirs.get(k), v) for k, v in config.items() if k not in skip):
            return folder
    return None


def load_scheduler(folder: Path) -> Any:
    """The scheduler a folder's `scheduler/scheduler_config.json` names (a diffusers folder's, or one we ship): every
    family's single-file reader builds its scheduler this way."""
    import diffusers

    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    return getattr(diffusers, config["_class_name"]).from_config(config)


def _transformer_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _same(a: Any, b: Any) -> bool:
    return list(a or ()) == list(b) if isinstance(b, (tuple, list)) else a == b


# ------------------------------------------------------------------------------------------- loading


# ComfyUI's "fp8_scaled" files store each weight divided by a scale kept beside it; the rest are its own bookkeeping.
SCALES = (".scale_weight", ".weight_scale")
QUANT_EXTRAS = (*SCALES, ".scale_input", ".input_scale", ".comfy_quant")


def read_weights(path: Path, prefix: str, dtype: torch.dtype, keep_fp8: bool = True) -> dict[str, torch.Tensor]:
    """The tensors under `prefix` (removed), each converted straight to `dtype` (fp8 ones kept with `keep_fp8`). A
    scaled fp8 file's weights are multiplied back by their scales to `dtype`: their fp8 values alone mean nothing."""
    from safetensors import safe_open

    out = {}
    with safe_open(str(path), framework="pt") as f:
        keys = [k for k in f.keys() if k.startswith(prefix)]
        present = set(keys)
        for key in keys:
            short = key[len(prefix):]
            if short.endswith(QUANT_EXTRAS) or short == "scaled_fp8":
                continue
            tensor = f.get_tensor(key)
            base = key.removesuffix(".weight")
            scale_key = next((base + s for s in SCALES if key.endswith(".weight") and base + s in present), None)
            if scale_key is not None:
                scale = f.get_tensor(scale_key)
                if scale.numel() != 1:
                    raise FluxFileError(f"{path.name} stores {short} with block-wise scales, a quantisation this app "
                                        "does not read; use its fp8_e4m3fn, bf16 or GGUF copy")
                tensor = (tensor.to(torch.float32) * scale.to(torch.float32)).to(dtype)
            elif tensor.is_floating_point() and tensor.dtype != dtype and not (keep_fp8 and tensor.dtype in FP8):
                tensor = tensor.to(dtype)
            out[short] = tensor
    return out


def _assign(model: torch.nn.Module, weights: dict[str, torch.Tensor], name: str, allowed_missing=()) -> None:
    result = model.load_state_dict(weights, strict=False, assign=True)
    missing = [k for k in result.missing_keys if k not in allowed_missing]
    if missing:
        raise FluxPartsError(f"{name} lacks {len(missing)} weights its architecture needs (such as {missing[0]}); "
                             "the file is incomplete or another model")


def load_transformer(path: Path, config: Mapping[str, Any], dtype: torch.dtype) -> Any:
    from accelerate import init_empty_weights
    from diffusers import FluxTransformer2DModel

    prefix = BFL_PREFIX if _has_prefix(path, BFL_PREFIX) else ""
    weights = bfl_to_diffusers(read_weights(path, prefix, dtype), config)
    full = {**config, "axes_dims_rope": list(config["axes_dims_rope"])}
    with init_empty_weights():
        model = FluxTransformer2DModel.from_config(full)
    _assign(model, weights, path.name)
    return model.eval()


def _has_prefix(path: Path, prefix: str) -> bool:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return any(k.startswith(prefix) for k in f.keys())


def load_text_encoder(role: str, module: ModuleInfo, folder: Path, dtype: torch.dtype) -> Any:
    return load_text_encoder_at(role, module, folder / _PART[role][0], dtype)


def load_text_encoder_at(role: str, module: ModuleInfo, config_dir: Path, dtype: torch.dtype,
                         projection: bool = False, override: Mapping[str, torch.Tensor] | None = None) -> Any:
    """A CLIP ("clip", "clip_g"; with its text projection when `projection`, as SD 3.x pools through it) or T5
    encoder with the config in `config_dir` and the module's weights (those in `override` replacing the file's)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    if role == "t5":
        cls = T5EncoderModel
    else:
        cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    with init_empty_weights():
        model = cls(config)
    expected = set(model.state_dict())
    weights = read_weights(module.path, module.prefix, dtype, keep_fp8=False)  # encoders run once per prompt
    # transformers 5 leaves out CLIP's `text_model.` prefix; ComfyUI's files add text_projection/logit_scale.
    weights = {(k.removeprefix("text_model.") if k.removeprefix("text_model.") in expected else k): v
               for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if k in expected} | dict(override or {})
    if role == "t5" and "shared.weight" not in weights and "encoder.embed_tokens.weight" in weights:
        weights["shared.weight"] = weights["encoder.embed_tokens.weight"]
    _assign(model, weights, module.name, allowed_missing=("encoder.embed_tokens.weight",))
    if role == "t5":
        model.encoder.embed_tokens = model.shared  # one embedding, as the file stores it
    return model.eval()


def load_vae(module: ModuleInfo, folder: Path, dtype: torch.dtype) -> Any:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL

    weights = read_weights(module.path, module.prefix, dtype, keep_fp8=False)
    if any(k.startswith("encoder.down_blocks.") for k in weights):  # diffusers' own layout
        with init_empty_weights():
            vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder / "vae")))
        _assign(vae, weights, module.name)
        return vae.eval()
    return AutoencoderKL.from_single_file(weights, config=str(folder), subfolder="vae", local_files_only=True,
                                          dtype=dtype)


def load_tokenizer(role: str, folder: Path) -> Any:
    return load_tokenizer_at(role, folder / _PART[role][1])


def load_tokenizer_at(role: str, tokenizer_dir: Path) -> Any:
    if role in ("clip", "clip_g"):
        from modules.engine.models.single_file import load_tokenizer as clip_tokenizer

        if (tokenizer_dir / "vocab.json").is_file():
            return clip_tokenizer(tokenizer_dir)
        from transformers import CLIPTokenizer

        return CLIPTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)


def load_pipeline(path: Path, parts: Mapping[str, ModuleInfo], folders: Sequence[Path], dtype: torch.dtype) -> Any:
    """A FluxPipeline from a transformer file and its parts (as `choose_parts` picked them)."""
    facts = describe(path)
    return assemble(load_transformer(path, facts.config, dtype), facts, parts, folders, dtype)


def assemble(transformer: Any, facts: FluxFile, parts: Mapping[str, ModuleInfo], folders: Sequence[Path],
             dtype: torch.dtype) -> Any:
    """A FluxPipeline around a loaded transformer (from a safetensors or GGUF file) with these parts."""
    from diffusers import FluxPipeline

    components: dict[str, Any] = {"transformer": transformer}
    for role in ("clip", "t5"):
        config, tokenizer = config_source(role, parts[role], folders)
        sub, tok = _PART[role]
        components[sub] = load_text_encoder(role, parts[role], config, dtype)
        components[tok] = load_tokenizer(role, tokenizer)
    components["vae"] = load_vae(parts["vae"], config_source("vae", parts["vae"], folders)[0], dtype)
    components["scheduler"] = load_scheduler(scheduler_source(facts, folders))
    return FluxPipeline(**components)


def is_flux_file(path: Path) -> bool:
    """Whether a safetensors file holds a Flux transformer in BFL's layout (header only)."""
    from modules.engine.models.flow_families import flux_keys

    try:
        shapes, _, _ = read_header(path)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the checkpoint reader
        return False
    return flux_keys(list(shapes)) == "bfl"


__all__ = ["FluxFile", "FluxFileError", "FluxPartsError", "choose_parts", "describe", "flux_folders",
           "folders", "is_flux_file", "load_pipeline"]


folders = flux_folders  # the reader interface of engine/models/transformer_files.py
