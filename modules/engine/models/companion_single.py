"""Z-Image and Qwen-Image from the transformer file alone (ComfyUI's `z_image_turbo_bf16.safetensors`,
`qwen_image_fp8_e4m3fn.safetensors`, `qwen_image_edit_2509_fp8_e4m3fn.safetensors`), with the Qwen text-encoder file
(`qwen_3_4b.safetensors`, `qwen_2.5_vl_7b*.safetensors`) and VAE file (Flux's `ae.safetensors` for Z-Image) that fit.

The transformer's family, storage dtype and shapes come from its weights. Z-Image's release layout (ComfyUI's)
fuses each attention's q, k and v into one `qkv` matrix and names a few modules otherwise than diffusers; Qwen-Image's
files use diffusers' own names (maybe under ComfyUI's `model.diffusion_model.` prefix). What the weights cannot say
(rotary axes, the patch size, the scheduler) comes from a diffusers folder of the family in models/Stable-diffusion
whose transformer config has the file's shapes, else from the released model's values when the shapes are its own.

The tokenizer, text-encoder config and scheduler come from a diffusers folder of the family when one fits (its configs
and tokenizer suffice; its weights are used only for the parts no file gives). Without one, a Z-Image file with its
Qwen3 and VAE files runs on what ships in configs/ (README there): Qwen's tokenizer, Qwen3-4B's constants around the
encoder file's shapes, Z-Image Turbo's scheduler, and the VAE config its shapes match. A Qwen-Image file with its
Qwen2.5-VL and VAE files runs likewise on Qwen-Image's scheduler and Qwen2.5-VL-7B's and its VAE's constants around
the files' shapes. Qwen-Image-Edit still needs a folder (its image processor is not shipped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from modules.engine.models import families
from modules.engine.models.flow_families import BFL_PREFIX
from modules.engine.models.module_files import ModuleInfo, read_header, storage_dtype

QWEN_KINDS = ("qwen3", "qwen2.5-vl")
CONFIGS = Path(__file__).resolve().parent / "configs"
QWEN_TOKENIZER = CONFIGS / "qwen" / "tokenizer"  # Qwen2 / 2.5 / 3's byte-level BPE (tools/make_qwen_tokenizer.py)
# Z-Image Turbo's scheduler and its Qwen3-4B encoder's config; as a Parts.folder, "no family folder: these".
ZIMAGE_SHIPPED = CONFIGS / "zimage"
# Qwen-Image's scheduler, Qwen2.5-VL-7B's config and its VAE's config (configs/README.md says where from).
QWEN_IMAGE_SHIPPED = CONFIGS / "qwen-image"
SHIPPED = {"zimage": ZIMAGE_SHIPPED, "qwen-image": QWEN_IMAGE_SHIPPED}
# What the released Qwen2.5-VL's weights do not say: the width of its text and vision attention heads.
_QWEN_VL_HEAD, _QWEN_VISION_HEAD = 128, 80
# The pipeline classes whose folders can lend their configs, tokenizer and scheduler, by family (best first).
FOLDER_CLASSES = {"zimage": ("ZImagePipeline",),
                  "qwen-image": ("QwenImagePipeline", "QwenImageEditPipeline", "QwenImageEditPlusPipeline"),
                  "qwen-image-edit": ("QwenImageEditPlusPipeline", "QwenImageEditPipeline")}
ENCODER = {"zimage": "qwen3", "qwen-image": "qwen2.5-vl", "qwen-image-edit": "qwen2.5-vl"}
# What each family needs, said as a user finds the files (ComfyUI's names).
ENCODER_FILE = {"qwen3": "a Qwen3 text encoder (qwen_3_4b.safetensors)",
                "qwen2.5-vl": "a Qwen2.5-VL text encoder (qwen_2.5_vl_7b.safetensors or its fp8 copy)"}
VAE_FILE = {"zimage": "the Flux VAE (ae.safetensors) in models/VAE",
            "qwen-image": "the Qwen-Image VAE (qwen_image_vae.safetensors) in models/VAE",
            "qwen-image-edit": "the Qwen-Image VAE (qwen_image_vae.safetensors) in models/VAE"}

# Z-Image's release layout -> diffusers' names (diffusers keys the patch embedder by patch size, "2-1").
_ZIMAGE_RENAMES = ((".attention.out.", ".attention.to_out.0."), (".attention.q_norm.", ".attention.norm_q."),
                   (".attention.k_norm.", ".attention.norm_k."))
_ZIMAGE_UNUSED = ("norm_final.weight",)  # the release keeps a final norm the model never applies
# Values of the released models that their weights do not carry, used when no folder of the family matches.
_ZIMAGE_RELEASE = {"all_patch_size": [2], "all_f_patch_size": [1], "norm_eps": 1e-5, "rope_theta": 256.0,
                   "t_scale": 1000.0, "axes_dims": [32, 48, 48], "axes_lens": [1536, 512, 512]}
_QWEN_RELEASE = {"patch_size": 2, "axes_dims_rope": [16, 56, 56]}
# ComfyUI's scaled fp8 files keep one scale per weight under either name ("fp8_scaled", and the newer mixed files).
_SCALES = (".scale_weight", ".weight_scale")
_QUANT_EXTRAS = (*_SCALES, ".scale_input", ".input_scale", ".comfy_quant")


class CompanionFileError(ValueError):
    """A Z-Image / Qwen-Image transformer file that cannot run as it is; the message names what to add and where."""


@dataclass(frozen=True)
class TransformerFile:
    """What a Z-Image or Qwen-Image transformer file is, from its header."""

    family: str  # "zimage" | "qwen-image" | "qwen-image-edit"
    layout: str  # "release" (Z-Image's fused qkv) | "diffusers"
    prefix: str  # where the transformer's keys start ("" or ComfyUI's "model.diffusion_model.")
    dtype: str  # the storage dtype most weights have
    shapes: Mapping[str, Any]  # the config entries the weights decide
    scaled_fp8: bool = False  # ComfyUI's "fp8_scaled": each fp8 weight has a scale beside it

    @property
    def label(self) -> str:
        blocks = self.shapes.get("n_layers", self.shapes.get("num_layers"))
        scaled = " scaled" if self.scaled_fp8 else ""
        return f"{families.label(self.family)} transformer ({self.dtype}{scaled}, {blocks} blocks)"

    @property
    def width(self) -> int:
        """The text-encoder width the transformer takes."""
        return int(self.shapes["cap_feat_dim" if self.family == "zimage" else "joint_attention_dim"])


@dataclass(frozen=True)
class Parts:
    """Where each part of the pipeline comes from: files (None: the folder's own) and the folder lending the rest."""

    folder: Path  # the family's SHIPPED configs when no folder of the family fits
    text_encoder: ModuleInfo | None = None
    vae: ModuleInfo | None = None
    vae_config: Path | None = None  # with ZIMAGE_SHIPPED: the folder whose vae/config.json fits the VAE file

    @property
    def files(self) -> tuple[ModuleInfo, ...]:
        return tuple(m for m in (self.text_encoder, self.vae) if m is not None)


# ------------------------------------------------------------------------------------------- detection


def _count(keys: Iterable[str], prefix: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _zimage_shapes(shapes: Mapping[str, tuple[int, ...]], layout: str) -> dict[str, Any]:
    keys = list(shapes)
    head = shapes["layers.0.attention.q_norm.weight" if layout == "release" else "layers.0.attention.norm_q.weight"][0]
    embed = shapes["x_embedder.weight" if layout == "release" else "all_x_embedder.2-1.weight"]
    dim = int(embed[0])
    if layout == "release":
        rows = int(shapes["layers.0.attention.qkv.weight"][0])
        kv_heads = (rows - dim) // (2 * head)
    else:
        kv_heads = int(shapes["layers.0.attention.to_k.weight"][0]) // head
    return {"dim": dim, "patch_inputs": int(embed[1]), "n_layers": _count(keys, "layers."),
            "n_refiner_layers": _count(keys, "noise_refiner."), "n_heads": dim // int(head), "n_kv_heads": kv_heads,
            "qk_norm": True, "cap_feat_dim": int(shapes["cap_embedder.1.weight"][1])}


def _qwen_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    head = int(shapes["transformer_blocks.0.attn.norm_q.weight"][0])
    inner = int(shapes["img_in.weight"][0])
    return {"in_channels": int(shapes["img_in.weight"][1]), "out_rows": int(shapes["proj_out.weight"][0]),
            "num_layers": _count(shapes, "transformer_blocks."), "attention_head_dim": head,
            "num_attention_heads": inner // head, "joint_attention_dim": int(shapes["txt_in.weight"][1]),
            "guidance_embeds": any(k.startswith("time_text_embed.guidance_embedder.") for k in shapes),
            "use_additional_t_cond": any(k.startswith("time_text_embed.addition_t_embedding") for k in shapes)}


def describe_header(name: str, shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str]
                    ) -> TransformerFile | None:
    """The file's facts, None when it is not a Z-Image or Qwen-Image transformer (CompanionFileError: it is one we
    cannot run)."""
    prefix = BFL_PREFIX if any(k.startswith(BFL_PREFIX) for k in shapes) else ""
    own = {k[len(prefix):]: s for k, s in shapes.items() if k.startswith(prefix)}
    weights = [dtypes[prefix + k] for k in own if k.endswith(".weight")]
    dtype = storage_dtype(weights)
    scaled = any(k.endswith(_SCALES) for k in own)
    if "layers.0.adaLN_modulation.0.weight" in own and "cap_embedder.1.weight" in own:
        if any(k.startswith("siglip_embedder.") for k in own):
            raise CompanionFileError("this is a Z-Image Omni transformer (it takes picture features too), which "
                                     "cannot be loaded from a single file yet; use its diffusers folder")
        layout = "release" if "x_embedder.weight" in own else "diffusers"
        if layout == "diffusers" and "all_x_embedder.2-1.weight" not in own:
            raise CompanionFileError("this Z-Image transformer has a patch size other than 2; use its diffusers folder")
        try:
            facts = _zimage_shapes(own, layout)
        except KeyError as exc:
            raise CompanionFileError(f"this Z-Image transformer file lacks {exc.args[0]}: it is incomplete") from None
        return TransformerFile("zimage", layout, prefix, dtype, facts, scaled)
    if "txt_norm.weight" in own and "transformer_blocks.0.img_mod.1.weight" in own:
        if "txt_in.text_norm.weight" in own:
            raise CompanionFileError("this is a Qwen-Image 2.1 transformer, which cannot be loaded yet")
        family = "qwen-image-edit" if "edit" in name.lower() else "qwen-image"
        try:
            facts = _qwen_shapes(own)
        except KeyError as exc:
            raise CompanionFileError(f"this Qwen-Image transformer file lacks {exc.args[0]}: it is "
                                     "incomplete") from None
        if family == "qwen-image-edit" and "2511" in name:
            # Edit 2511 conditions its reference tokens at timestep zero; nothing in its weights says so.
            facts["zero_cond_t"] = True
        return TransformerFile(family, "diffusers", prefix, dtype, facts, scaled)
    return None


def describe(path: Path) -> TransformerFile | None:
    shapes, dtypes, _ = read_header(path)
    return describe_header(path.name, shapes, dtypes)


def registry_facts(path: Path) -> dict[str, Any] | None:
    """What the checkpoint list shows for the file (None: not ours). It is usable when its parts can be found,
    which is decided when a job lends it (`with_parts`)."""
    try:
        facts = describe(path)
    except CompanionFileError as exc:
        return {"error": str(exc)}
    except Exception:  # noqa: BLE001 - unreadable files are reported by the checkpoint reader
        return None
    if facts is None:
        return None
    return {"family": facts.family, "family_label": facts.label, "inpainting": False, "prediction": "flow"}


def is_companion_family(family: str | None) -> bool:
    return family in ENCODER


# ------------------------------------------------------------------------------------------- configs


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def family_folders(facts: TransformerFile, candidates: Iterable[Path]) -> list[Path]:
    """The diffusers folders that can lend configs, tokenizer and scheduler, best first: the file's own class, and
    among those, the ones whose transformer config has the file's shapes."""
    found = []
    for folder in candidates:
        index = _json(folder / "model_index.json") or {}
        cls = index.get("_class_name")
        if cls in FOLDER_CLASSES[facts.family]:
            found.append((not _matches(facts, folder), FOLDER_CLASSES[facts.family].index(cls), str(folder), folder))
    return [f for *_, f in sorted(found)]


def _matches(facts: TransformerFile, folder: Path) -> bool:
    config = _json(folder / "transformer" / "config.json")
    if config is None:
        return False
    try:
        return _derived(facts, config) == {k: config.get(k) for k in _derived(facts, config)}
    except (KeyError, TypeError, ZeroDivisionError):
        return False


def _derived(facts: TransformerFile, base: Mapping[str, Any]) -> dict[str, Any]:
    """The config entries the weights decide, given the patch sizes of `base`."""
    s = dict(facts.shapes)
    if facts.family == "zimage":
        patch, f_patch = base["all_patch_size"][0], base["all_f_patch_size"][0]
        s["in_channels"] = s.pop("patch_inputs") // (patch * patch * f_patch)
        return s
    patch = base["patch_size"]
    s["out_channels"] = s.pop("out_rows") // (patch * patch)
    return s


def transformer_config(facts: TransformerFile, folders: Sequence[Path]) -> dict[str, Any]:
    """The diffusers config of the file's transformer: a matching folder's, else the release values around the
    file's shapes (only when its heads are the release's 128 wide: other rotary splits are unknowable)."""
    for folder in folders:
        if _matches(facts, folder):
            config = _json(folder / "transformer" / "config.json") or {}
            return {k: v for k, v in config.items() if not k.startswith("_")}
    release = _ZIMAGE_RELEASE if facts.family == "zimage" else _QWEN_RELEASE
    head = facts.shapes["dim"] // facts.shapes["n_heads"] if facts.family == "zimage" else \
        facts.shapes["attention_head_dim"]
    if head != 128:
        raise CompanionFileError(
            f"its attention heads are {head} wide, unlike the released {families.label(facts.family)}'s 128, so how "
            f"they split into rotary axes is unknown: put the model's diffusers folder (its transformer/config.json "
            "at least) in models/Stable-diffusion")
    return {**release, **_derived(facts, release)}


def _encoder_signature(folder: Path) -> tuple[int, int, int] | None:
    config = _json(folder / "text_encoder" / "config.json")
    if config is None:
        return None
    text = config.get("text_config") or config
    try:
        return int(text["vocab_size"]), int(text["hidden_size"]), int(text["num_hidden_layers"])
    except (KeyError, TypeError, ValueError):
        return None


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / "tokenizer" / n).is_file() for n in ("tokenizer.json", "vocab.json"))


def _has_weights(folder: Path, part: str) -> bool:
    sub = folder / part
    return sub.is_dir() and any(p.name.endswith((".safetensors", ".bin")) for p in sub.iterdir())


# ------------------------------------------------------------------------------------------- choosing parts


def _fits(facts: TransformerFile, module: ModuleInfo) -> str | None:
    """Which part the module can be for this transformer ("text_encoder", "vae"), None when it fits none."""
    if module.kind == ENCODER[facts.family] and len(module.shape) == 3 and module.shape[1] == facts.width:
        return "text_encoder"
    if facts.family == "zimage" and module.kind == "vae" and module.shape and \
            module.shape[0] * 4 == facts.shapes["patch_inputs"]:
        return "vae"
    if facts.family != "zimage" and module.kind == "qwen-vae" and module.shape[0] * 4 == facts.shapes["in_channels"]:
        return "vae"  # latents packed 2x2 into the transformer's channels
    return None


def _pick(role: str, facts: TransformerFile, chosen: dict[str, ModuleInfo], available: Sequence[ModuleInfo],
          file_name: str) -> ModuleInfo | None:
    if role in chosen:
        return chosen[role]
    fitting = [m for m in available if m.usable and _fits(facts, m) == role]
    if len(fitting) > 1:
        raise CompanionFileError(f"several files fit {file_name} as its {role.replace('_', ' ')} "
                                 f"({', '.join(m.name for m in fitting)}): choose one under 'VAE / Text encoder'")
    return fitting[0] if fitting else None


def choose_parts(facts: TransformerFile, chosen: Sequence[ModuleInfo], available: Sequence[ModuleInfo],
                 folders: Sequence[Path], file_name: str) -> Parts:
    """The text encoder and VAE files (the ones chosen, else the one file that fits) and the family folder that
    lends the rest. The error names what to add and where."""
    picked: dict[str, ModuleInfo] = {}
    for module in chosen:
        if not module.usable:
            raise CompanionFileError(f"{module.name} cannot be used: {module.error}")
        role = _fits(facts, module)
        if role is None:
            raise CompanionFileError(f"{module.name} is a {module.label}, which does not fit {file_name} (a "
                                     f"{facts.label}); remove it from 'VAE / Text encoder'")
        if role in picked:
            raise CompanionFileError(f"{picked[role].name} and {module.name} were both chosen as the "
                                     f"{role.replace('_', ' ')}; choose one")
        picked[role] = module
    encoder = _pick("text_encoder", facts, picked, available, file_name)
    vae = _pick("vae", facts, picked, available, file_name)
    name = families.label(facts.family)
    lenders = [f for f in family_folders(facts, folders) if _has_tokenizer(f)]
    if encoder is not None:
        lenders = [f for f in lenders if _encoder_signature(f) == tuple(encoder.shape)]
    if not lenders and facts.family in SHIPPED:
        return _shipped_parts(facts, encoder, vae, folders, file_name)
    if not lenders:
        what = (f"{ENCODER_FILE[ENCODER[facts.family]]} in models/text_encoder and " if encoder is None else "")
        fit = (f" whose text encoder is {encoder.name}'s ({encoder.shape[1]} wide, {encoder.shape[2]} layers)"
               if encoder is not None else "")
        raise CompanionFileError(
            f"{file_name} needs {what}the tokenizer, processor and text-encoder config of a {name} diffusers "
            f"folder{fit} in models/Stable-diffusion (its configs and tokenizer suffice: the edit models' image "
            "processor is not shipped with this app)")
    with_encoder = [f for f in lenders if encoder is not None or _has_weights(f, "text_encoder")]
    if not with_encoder:
        raise CompanionFileError(f"{file_name} needs {ENCODER_FILE[ENCODER[facts.family]]} in models/text_encoder "
                                 f"(the {name} folder {lenders[0].name} has no text-encoder weights)")
    lenders = with_encoder
    if vae is None:
        lenders = [f for f in lenders if _has_weights(f, "vae")]
        if not lenders:
            raise CompanionFileError(f"{file_name} needs {VAE_FILE[facts.family]} (or a {name} diffusers folder "
                                     "with its vae/ weights in models/Stable-diffusion)")
    return Parts(lenders[0], encoder, vae)


def _shipped_parts(facts: TransformerFile, encoder: ModuleInfo | None, vae: ModuleInfo | None,
                   folders: Sequence[Path], file_name: str) -> Parts:
    """Z-Image or Qwen-Image without a folder of its family: both files are needed. Z-Image's VAE file takes the VAE
    config that fits it (Flux's shipped one for ae.safetensors, else a diffusers folder's); Qwen-Image's, and its
    Qwen2.5-VL, take the released constants around their shapes, which must be the release's where nothing else
    can say (checked here, before the job is queued)."""
    from modules.engine.models import flux_single

    name = families.label(facts.family)
    if encoder is None:
        raise CompanionFileError(f"{file_name} needs {ENCODER_FILE[ENCODER[facts.family]]} in models/text_encoder "
                                 f"(or a {name} diffusers folder with its text_encoder/ weights in "
                                 "models/Stable-diffusion)")
    if vae is None:
        raise CompanionFileError(f"{file_name} needs {VAE_FILE[facts.family]} (or a {name} diffusers folder with "
                                 "its vae/ weights in models/Stable-diffusion)")
    transformer_config(facts, [])  # its rotary axes must be the release's, as no folder can say otherwise
    if facts.family == "qwen-image":
        qwen_vl_config(encoder)
        qwen_vae_config(vae)
        return Parts(QWEN_IMAGE_SHIPPED, encoder, vae)
    candidates = [(f / "vae", None) for f in (flux_single.SHIPPED, *folders)]
    try:
        config, _ = flux_single.find_config("vae", vae, candidates, "Flux's shipped VAE config nor any diffusers "
                                                                    "folder's in models/Stable-diffusion")
    except ValueError as exc:
        raise CompanionFileError(str(exc)) from None
    return Parts(ZIMAGE_SHIPPED, encoder, vae, config.parent)


def with_parts(info: Any, chosen: Sequence[ModuleInfo], available: Sequence[ModuleInfo],
               folders: Sequence[Path]) -> Any:
    """The CheckpointInfo with the files its job uses (`parts`, written in the infotext) and the folder lending the
    rest (`config_folders`)."""
    facts = describe(info.path)
    if facts is None:
        raise CompanionFileError(f"{info.name} is no longer a Z-Image or Qwen-Image transformer; press Refresh")
    parts = choose_parts(facts, chosen, available, folders, info.name)
    lent = (parts.folder,) if parts.vae_config is None else (parts.folder, parts.vae_config)
    return replace(info, parts=parts.files, config_folders=lent)


# ------------------------------------------------------------------------------------------- loading


def read_weights(path: Path, prefix: str, dtype: torch.dtype, keep_fp8: bool) -> dict[str, torch.Tensor]:
    """The tensors under `prefix` (removed) at `dtype`; fp8 ones kept with `keep_fp8`, unless the file is ComfyUI's
    scaled fp8 (a scale beside each weight), whose weights are multiplied back to `dtype`."""
    from safetensors import safe_open

    fp8 = (torch.float8_e4m3fn, torch.float8_e5m2)
    raw: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            if key.startswith(prefix):
                raw[key[len(prefix):]] = f.get_tensor(key)
    scaled = any(k.endswith(_SCALES) for k in raw)
    out = {}
    for key, tensor in raw.items():
        if key.endswith(_QUANT_EXTRAS) or key == "scaled_fp8":
            continue
        base = key.removesuffix(".weight")
        scale = next((raw[base + s] for s in _SCALES if key.endswith(".weight") and base + s in raw), None)
        if scale is not None:
            if scale.numel() != 1:
                raise CompanionFileError(f"{path.name} stores {key} with block-wise scales (a quantisation this app "
                                         "does not read); use its fp8_e4m3fn, bf16 or GGUF copy")
            tensor = tensor.to(torch.float32) * scale.to(torch.float32)
        if tensor.is_floating_point() and tensor.dtype != dtype and not (keep_fp8 and not scaled and
                                                                         tensor.dtype in fp8):
            tensor = tensor.to(dtype)
        out[key] = tensor
    return out


def zimage_to_diffusers(weights: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Z-Image's release names -> diffusers': q, k and v split from `qkv` (by the heads' sizes), renames."""
    patch = f"{config['all_patch_size'][0]}-{config['all_f_patch_size'][0]}"
    head = config["dim"] // config["n_heads"]
    q_rows, kv_rows = config["n_heads"] * head, config["n_kv_heads"] * head
    out = {}
    for key, tensor in weights.items():
        if key in _ZIMAGE_UNUSED:
            continue
        key = re.sub(r"^x_embedder\.", f"all_x_embedder.{patch}.", key)
        key = re.sub(r"^final_layer\.", f"all_final_layer.{patch}.", key)
        for old, new in _ZIMAGE_RENAMES:
            key = key.replace(old, new)
        if key.endswith(".attention.qkv.weight"):
            base = key.removesuffix("qkv.weight")
            q, k, v = torch.split(tensor, [q_rows, kv_rows, kv_rows], dim=0)
            out |= {base + "to_q.weight": q, base + "to_k.weight": k, base + "to_v.weight": v}
            continue
        out[key] = tensor
    return out


def _assign(model: torch.nn.Module, weights: dict[str, torch.Tensor], name: str) -> None:
    result = model.load_state_dict(weights, strict=False, assign=True)
    if result.missing_keys:
        raise CompanionFileError(f"{name} lacks {len(result.missing_keys)} weights its architecture needs (such as "
                                 f"{result.missing_keys[0]}); the file is incomplete or another model")


def load_transformer(path: Path, facts: TransformerFile, config: Mapping[str, Any], dtype: torch.dtype) -> Any:
    """The transformer, read tensor by tensor into a model built without memory; fp8 weights stay fp8."""
    from accelerate import init_empty_weights
    from diffusers import QwenImageTransformer2DModel, ZImageTransformer2DModel

    weights = read_weights(path, facts.prefix, dtype, keep_fp8=True)
    cls = ZImageTransformer2DModel if facts.family == "zimage" else QwenImageTransformer2DModel
    if facts.family == "zimage" and facts.layout == "release":
        weights = zimage_to_diffusers(weights, config)
    with init_empty_weights():
        model = cls.from_config(dict(config))
    _assign(model, weights, path.name)
    return model.eval()


def _encoder_keys(kind: str, key: str) -> str:
    """A text-encoder file's key as the transformers model names it. ComfyUI's files keep the original Hugging Face
    names (`model.layers.*`, `visual.*`); transformers 5 nests Qwen2.5-VL's language model and vision tower."""
    if kind == "qwen3":
        return key.removeprefix("model.")
    if key.startswith(("model.language_model.", "model.visual.", "lm_head.")):
        return key
    if key.startswith("visual."):
        return "model." + key
    return "model.language_model." + key.removeprefix("model.")


def qwen3_config(module: ModuleInfo) -> dict[str, Any]:
    """Z-Image's Qwen3 encoder config for this file: Qwen3-4B's constants (configs/zimage/text_encoder) around the
    sizes its weights say (width, layers, heads from q/k_proj over q_norm's head width, MLP width, vocabulary)."""
    shapes, _, _ = read_header(module.path)
    own = {k[len(module.prefix):].removeprefix("model."): s for k, s in shapes.items() if k.startswith(module.prefix)}
    try:
        head = int(own["layers.0.self_attn.q_norm.weight"][0])
        vocab, width = (int(n) for n in own["embed_tokens.weight"])
        sizes = {"hidden_size": width, "vocab_size": vocab, "head_dim": head,
                 "num_hidden_layers": _count(own, "layers."), "max_window_layers": _count(own, "layers."),
                 "num_attention_heads": int(own["layers.0.self_attn.q_proj.weight"][0]) // head,
                 "num_key_value_heads": int(own["layers.0.self_attn.k_proj.weight"][0]) // head,
                 "intermediate_size": int(own["layers.0.mlp.gate_proj.weight"][0])}
    except KeyError as exc:
        raise CompanionFileError(f"{module.name} lacks {exc.args[0]}: it is not a whole Qwen3 text encoder") from None
    return {**(_json(ZIMAGE_SHIPPED / "text_encoder" / "config.json") or {}), **sizes}


def _own_shapes(module: ModuleInfo) -> dict[str, tuple[int, ...]]:
    """A Qwen2.5-VL file's shapes under transformers' names (`model.language_model.*`, `model.visual.*`)."""
    shapes, _, _ = read_header(module.path)
    return {_encoder_keys("qwen2.5-vl", k[len(module.prefix):]): tuple(s) for k, s in shapes.items()
            if k.startswith(module.prefix)}


def qwen_vl_config(module: ModuleInfo) -> dict[str, Any]:
    """Qwen-Image's Qwen2.5-VL config for this file: Qwen2.5-VL-7B's constants (configs/qwen-image/text_encoder)
    around the sizes its weights say. Its text heads are taken as the release's 128 wide (and its vision heads 80),
    which the multimodal rotary split assumes; a file whose widths are not multiples of those is refused."""
    own = _own_shapes(module)
    text, vision = "model.language_model.", "model.visual."
    try:
        vocab, width = own[text + "embed_tokens.weight"]
        kv_rows = own[text + "layers.0.self_attn.k_proj.weight"][0]
        vision_width, channels, temporal, patch, _ = own[vision + "patch_embed.proj.weight"]
        merged = own[vision + "merger.mlp.0.weight"][1]
        sizes = {"hidden_size": width, "vocab_size": vocab, "num_hidden_layers": _count(own, text + "layers."),
                 "num_attention_heads": width // _QWEN_VL_HEAD, "num_key_value_heads": kv_rows // _QWEN_VL_HEAD,
                 "intermediate_size": own[text + "layers.0.mlp.gate_proj.weight"][0]}
        seen = {"depth": _count(own, vision + "blocks."), "hidden_size": vision_width,
                "num_heads": vision_width // _QWEN_VISION_HEAD, "in_channels": channels, "in_chans": channels,
                "temporal_patch_size": temporal, "patch_size": patch, "spatial_patch_size": patch,
                "intermediate_size": own[vision + "blocks.0.mlp.gate_proj.weight"][0],
                "out_hidden_size": own[vision + "merger.mlp.2.weight"][0],
                "spatial_merge_size": round((merged // vision_width) ** 0.5)}
    except (KeyError, ValueError):
        raise CompanionFileError(f"{module.name} is not a whole Qwen2.5-VL text encoder with its vision tower (as "
                                 "ComfyUI's qwen_2.5_vl_7b.safetensors is); use that file, or put a Qwen-Image "
                                 "diffusers folder in models/Stable-diffusion") from None
    if width % _QWEN_VL_HEAD or kv_rows % _QWEN_VL_HEAD or vision_width % _QWEN_VISION_HEAD:
        raise CompanionFileError(f"{module.name}'s attention widths ({width}, {kv_rows}, vision {vision_width}) are "
                                 "not in the released Qwen2.5-VL's heads of 128 (vision 80), so its configuration "
                                 "is unknown: put a Qwen-Image diffusers folder (its configs at least) in "
                                 "models/Stable-diffusion")
    base = _json(QWEN_IMAGE_SHIPPED / "text_encoder" / "config.json") or {}
    full = dict(base["text_config"], **sizes, max_window_layers=sizes["num_hidden_layers"],
                layer_types=["full_attention"] * sizes["num_hidden_layers"])
    depth = seen["depth"]
    vision_config = dict(base["vision_config"], **seen,
                         fullatt_block_indexes=[i for i in base["vision_config"]["fullatt_block_indexes"] if i < depth])
    return {**base, **sizes, "text_config": full, "vision_config": vision_config}


def qwen_vae_config(module: ModuleInfo) -> dict[str, Any]:
    """The Qwen-Image VAE's config for a file in Wan 2.1's layout: the released latent statistics and the structure
    its weights say (widths, levels, residual blocks, which levels also downsample in time). Only a 16-channel
    latent has known statistics."""
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    shapes, _, _ = read_header(module.path)
    meta = {k[len(module.prefix):]: torch.empty(s, device="meta") for k, s in shapes.items()
            if k.startswith(module.prefix)}
    try:
        own = {k: tuple(t.shape) for k, t in convert_wan_vae_to_diffusers(meta).items()}
        base_dim, z_dim = own["encoder.conv_in.weight"][0], own["post_quant_conv.weight"][0]
    except (KeyError, IndexError, RuntimeError):
        raise CompanionFileError(f"{module.name} is not a whole Qwen-Image VAE") from None
    # The encoder's blocks, level by level: residual blocks (their widths), then a resample between levels.
    levels: list[list[int]] = [[]]
    temporal = []
    for i in range(_count(own, "encoder.down_blocks.")):
        block = f"encoder.down_blocks.{i}."
        if block + "resample.1.weight" in own:
            temporal.append(block + "time_conv.weight" in own)
            levels.append([])
        elif block + "conv2.weight" in own:
            levels[-1].append(own[block + "conv2.weight"][0])
    base = _json(QWEN_IMAGE_SHIPPED / "vae" / "config.json") or {}
    if z_dim != base["z_dim"]:
        raise CompanionFileError(f"{module.name} has {z_dim} latent channels; the released Qwen-Image VAE's "
                                 f"{base['z_dim']} are the ones whose statistics are known: put the model's diffusers "
                                 "folder (its vae/config.json at least) in models/Stable-diffusion")
    if len({len(level) for level in levels}) != 1 or not levels[0] or any(lv[-1] % base_dim for lv in levels):
        raise CompanionFileError(f"{module.name} is not laid out as a Qwen-Image VAE")
    return {**base, "base_dim": base_dim, "dim_mult": [level[-1] // base_dim for level in levels],
            "num_res_blocks": len(levels[0]), "temperal_downsample": temporal}


def load_text_encoder(module: ModuleInfo, folder: Path, dtype: torch.dtype) -> Any:
    """A Qwen text encoder: the folder's config (the shipped ones: from the file's shapes), the file's weights
    (encoders run once per prompt: no fp8 kept)."""
    import transformers
    from accelerate import init_empty_weights

    if folder == ZIMAGE_SHIPPED:
        cls, config = transformers.Qwen3Model, transformers.Qwen3Config(**qwen3_config(module))
    elif folder == QWEN_IMAGE_SHIPPED:
        cls = transformers.Qwen2_5_VLForConditionalGeneration
        config = transformers.Qwen2_5_VLConfig(**qwen_vl_config(module))
    else:
        index = _json(folder / "model_index.json") or {}
        cls = getattr(transformers, index["text_encoder"][1])
        config = transformers.AutoConfig.from_pretrained(str(folder / "text_encoder"), local_files_only=True)
    with init_empty_weights():
        model = cls(config)
    expected = set(model.state_dict())
    weights = {_encoder_keys(module.kind, k): v
               for k, v in read_weights(module.path, module.prefix, dtype, keep_fp8=False).items()}
    weights = {k: v for k, v in weights.items() if k in expected}
    if "lm_head.weight" in expected and "lm_head.weight" not in weights:
        # Text-only copies leave out the output head; the pipelines read hidden states, never its logits.
        weights["lm_head.weight"] = weights.get("model.language_model.embed_tokens.weight")
        if weights["lm_head.weight"] is None:
            weights.pop("lm_head.weight")
    _assign(model, weights, module.name)
    return model.eval()


def load_vae(module: ModuleInfo, folder: Path, dtype: torch.dtype) -> Any:
    """Z-Image's VAE is Flux's: its config from the folder, else Flux's shipped one (flux_single). Qwen-Image's is
    Wan 2.1's (diffusers' converter renames its keys), with the folder's config."""
    from modules.engine.models import flux_single

    if module.kind == "qwen-vae":
        from accelerate import init_empty_weights
        from diffusers import AutoencoderKLQwenImage
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        weights = convert_wan_vae_to_diffusers(read_weights(module.path, module.prefix, dtype, keep_fp8=False))
        config = qwen_vae_config(module) if folder == QWEN_IMAGE_SHIPPED else \
            AutoencoderKLQwenImage.load_config(str(folder / "vae"))
        with init_empty_weights():
            vae = AutoencoderKLQwenImage.from_config(config)
        _assign(vae, weights, module.name)
        return vae.eval()
    source = folder if _json(folder / "vae" / "config.json") else flux_single.SHIPPED
    return flux_single.load_vae(module, source, dtype)


def load_pipeline(path: Path, parts: Sequence[ModuleInfo], folders: Sequence[Path], dtype: torch.dtype) -> Any:
    """The family's pipeline: the transformer from the file, text encoder and VAE from the files chosen
    (`with_parts`), everything else (tokenizer, scheduler, processor, the parts no file gave) from the folder."""
    import diffusers

    facts = describe(path)
    if facts is None or not folders:
        raise CompanionFileError(f"{path.name}: its parts were not chosen; press Refresh")
    folder = folders[0]
    if folder in SHIPPED.values():
        return _shipped_pipeline(path, facts, parts, folders[1:], dtype)
    components: dict[str, Any] = {"transformer": load_transformer(path, facts, transformer_config(facts, [folder]),
                                                                  dtype)}
    for module in parts:
        role = _fits(facts, module)
        if role == "text_encoder":
            components["text_encoder"] = load_text_encoder(module, folder, dtype)
        elif role == "vae":
            components["vae"] = load_vae(module, folder, dtype)
    index = _json(folder / "model_index.json") or {}
    cls_name = index["_class_name"] if facts.family == "qwen-image-edit" else FOLDER_CLASSES[facts.family][0]
    cls = getattr(diffusers, cls_name)
    return cls.from_pretrained(str(folder), **components, dtype=dtype, local_files_only=True)


def _shipped_pipeline(path: Path, facts: TransformerFile, parts: Sequence[ModuleInfo], lent: Sequence[Path],
                      dtype: torch.dtype) -> Any:
    """A ZImagePipeline or QwenImagePipeline with no family folder: the files' weights, the shipped tokenizer,
    encoder config and scheduler, and the VAE config chosen for the VAE file (`_shipped_parts`: Z-Image's is lent)."""
    from diffusers import QwenImagePipeline, ZImagePipeline
    from transformers import AutoTokenizer

    from modules.engine.models import flux_single

    roles = {_fits(facts, m): m for m in parts}
    if set(roles) != {"text_encoder", "vae"}:
        raise CompanionFileError(f"{path.name}: its text-encoder and VAE files were not chosen; press Refresh")
    shipped = SHIPPED[facts.family]
    if facts.family == "zimage":
        vae = flux_single.load_vae(roles["vae"], lent[0], dtype)
    else:
        vae = load_vae(roles["vae"], shipped, dtype)
    cls = ZImagePipeline if facts.family == "zimage" else QwenImagePipeline
    return cls(transformer=load_transformer(path, facts, transformer_config(facts, []), dtype),
               text_encoder=load_text_encoder(roles["text_encoder"], shipped, dtype), vae=vae,
               scheduler=flux_single.load_scheduler(shipped),
               tokenizer=AutoTokenizer.from_pretrained(str(QWEN_TOKENIZER), local_files_only=True))


__all__ = ["CompanionFileError", "Parts", "TransformerFile", "choose_parts", "describe", "family_folders",
           "is_companion_family", "load_pipeline", "qwen3_config", "qwen_vae_config", "qwen_vl_config",
           "registry_facts", "transformer_config", "with_parts"]
