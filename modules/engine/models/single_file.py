"""Single-file Stable Diffusion checkpoints (A1111's models/Stable-diffusion) loaded fully offline.

Users bring `.safetensors` and `.ckpt` files in the original (LDM/SGM) layout. diffusers converts them, but
by default fetches config files from the Hub; we ship those configs in `configs/<family>/` (no weights) and
point diffusers at them, so loading never touches the network.

Typical use::

    state_dict = read_state_dict(path)      # safe read, clear errors
    family = detect_family(state_dict)      # SD 1.x / 2.x / 2.x-v / XL, or UnsupportedModel with a reason
    del state_dict
    pipe = load_single_file(path, family, dtype=torch.bfloat16)
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders.single_file_utils import SingleFileComponentError, infer_diffusers_model_type
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import CLIPTokenizer

from modules.engine.models import families, flux_files

CONFIGS = Path(__file__).resolve().parent / "configs"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth")
UNET_PREFIX = "model.diffusion_model."
TEXT_ENCODER_PREFIXES = ("cond_stage_model.", "conditioner.embedders.")


class CheckpointError(Exception):
    """A model file that cannot be used; the message says what was wrong and what to do."""


class UnsupportedModel(CheckpointError):
    """A readable file that is not a checkpoint we can run (another architecture, a LoRA, a VAE...)."""


@dataclass(frozen=True)
class ModelFamily:
    """What the loader needs to know about a checkpoint: which config folder and which pipeline."""

    name: str  # "sd1" | "sd2" | "sd2-v" | "sdxl" | "sdxl-refiner": also the config folder's name
    label: str  # for people: "SD 1.x", "SDXL inpainting", ...
    inpainting: bool = False  # the UNet takes 9 channels: latents + mask + masked-image latents
    prediction: str = "epsilon"  # "epsilon" | "v_prediction"


def _family(name: str, *, inpainting: bool = False, prediction: str = "epsilon") -> ModelFamily:
    label = families.label(name) + (" inpainting" if inpainting else "")
    if prediction == "v_prediction" and name != "sd2-v":
        label += " v-prediction"
    return ModelFamily(name=name, label=label, inpainting=inpainting, prediction=prediction)


# ---------------------------------------------------------------------------------------------- reading


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without ever running code from the file.

    `.safetensors` is memory-mapped. Pickle files (`.ckpt`, `.pt`, `.pth`) are read with
    `weights_only=True`: a pickle can run arbitrary code when loaded, so one that needs more than tensors
    and plain containers is refused rather than trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file; check the path and the models folder.")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            raw: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(
                f"{path.name} is not a valid safetensors file ({e}); the download may be incomplete: re-download it."
            ) from e
    elif suffix in PICKLE_SUFFIXES:
        raw = _load_pickle(path)
    else:
        raise CheckpointError(
            f"{path.name}: unknown checkpoint type {suffix!r}; use a .safetensors (preferred) or .ckpt file."
        )
    while isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]  # Lightning checkpoints keep the weights under "state_dict"
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path.name} holds a {type(raw).__name__}, not a dictionary of tensors.")
    return _flatten(raw)


def _load_pickle(path: Path) -> Any:
    try:
        # mmap avoids a second full copy in RAM; it only works for the zip format (torch >= 1.6 files).
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:  # a bad opcode: damaged data, or a pickle trick the safe reader does not allow
            raise CheckpointError(
                f"{path.name} could not be read safely ({_last_line(e)}): it is damaged or holds more than "
                "tensors. Re-download it, preferably as .safetensors."
            ) from e
        raise CheckpointError(
            f"{path.name} was refused: besides tensors, this pickle file contains Python objects (such as "
            f"{found.group(1)}). Loading a pickle can run any code hidden in it, so only plain tensors are "
            "accepted. Convert the file to .safetensors with a trusted tool, or download the .safetensors "
            "version of the model."
        ) from e
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path.name} is not a valid checkpoint ({_first_line(e)}); re-download it.") from e


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors of nested dictionaries under dotted keys; other values (step counts, names) are dropped."""
    flat: dict[str, torch.Tensor] = {}
    for key, value in tree.items():
        if isinstance(value, torch.Tensor):
            flat[prefix + str(key)] = value
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def _last_line(error: BaseException) -> str:
    """torch's unpickling errors put the specific reason on the line before the documentation link."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1] if lines else type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -------------------------------------------------------------------------------------------- detection

# diffusers' model types we recognise but cannot run yet -> what to tell the user.
_NOT_YET = {
    "playground-v2-5": "Playground v2.5 is not supported yet",
    "upscale": "the SD x4 upscaler is not supported yet",
    "instruct-pix2pix": "InstructPix2Pix is not supported yet",
}
_NOT_YET_PREFIXES = {
    "controlnet": "this looks like a ControlNet, put it in models/ControlNet",
    "sd3": "Stable Diffusion 3 single files cannot be loaded yet; use the model's diffusers folder",
    "sd35": "Stable Diffusion 3.5 single files cannot be loaded yet; use the model's diffusers folder",
    "flux": "Flux is not supported yet",
    "chroma": "Chroma (Flux) is not supported yet",
    "stable_cascade": "Stable Cascade is not supported yet",
    "animatediff": "this is an AnimateDiff motion module, which is not supported yet",
}
_LORA_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".hada_w1_a", ".lokr_w1")


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> ModelFamily:
    """Tell which Stable Diffusion family a checkpoint belongs to, from its keys and shapes alone.

    Raises UnsupportedModel with a reason a user can act on for anything we cannot load as a checkpoint.
    """
    _reject_other_files(state_dict)
    try:
        kind = infer_diffusers_model_type(state_dict)
    except Exception as e:  # its probes index keys that odd files may lack
        raise UnsupportedModel(f"this is not a Stable Diffusion checkpoint we recognise ({e!r})") from e
    if kind in _NOT_YET:
        raise UnsupportedModel(_NOT_YET[kind])
    if kind.startswith("flux") and flux_files.flux_keys(list(state_dict)) == "bfl":  # say which Flux it is
        raise UnsupportedModel(flux_files.file_message(state_dict))
    for prefix, reason in _NOT_YET_PREFIXES.items():
        if kind.startswith(prefix):
            raise UnsupportedModel(reason)
    if not any(k.startswith(UNET_PREFIX) for k in state_dict):
        raise UnsupportedModel(f"this is not a Stable Diffusion checkpoint: it has no {UNET_PREFIX}* UNet weights")
    if not any(k.startswith(TEXT_ENCODER_PREFIXES) for k in state_dict):
        raise UnsupportedModel("the file has a UNet but no text encoder; UNet-only files are not supported yet")
    if kind == "v1":  # also diffusers' answer for anything unknown: check it really is SD 1.x
        to_k = state_dict.get(UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
        if to_k is None or UNET_PREFIX + "output_blocks.11.0.skip_connection.weight" not in state_dict:
            raise UnsupportedModel("its UNet matches none of SD 1.x, SD 2.x and SDXL, the supported architectures")
        if to_k.shape[-1] != 768:
            raise UnsupportedModel(f"its UNet has cross-attention width {to_k.shape[-1]}, unlike SD 1.x (768)")
        return _family("sd1")
    if kind == "inpainting":
        return _family("sd1", inpainting=True)
    if kind == "inpainting_v2":
        return _family("sd2", inpainting=True)  # SD 2 inpainting is the 512 epsilon model
    if kind == "v2":
        return _family("sd2-v", prediction="v_prediction") if _sd2_is_v(state_dict) else _family("sd2")
    if kind == "xl_refiner":
        return _family("sdxl-refiner")
    if kind in ("xl_base", "xl_inpaint"):
        prediction = "v_prediction" if "v_pred" in state_dict else "epsilon"  # marker set by v-pred finetunes
        return _family("sdxl", inpainting=kind == "xl_inpaint", prediction=prediction)
    raise UnsupportedModel(f"this is a {kind} model; only SD 1.x, SD 2.x and SDXL (base, refiner) checkpoints "
                           "are supported")


def _reject_other_files(state_dict: Mapping[str, torch.Tensor]) -> None:
    """Recognise files that users often drop in the wrong models/ folder, before any deeper probing."""
    keys = list(state_dict)
    if not keys:
        raise UnsupportedModel("the file holds no tensors")
    if any(k.startswith("lora_") or k.endswith(".alpha") or any(m in k for m in _LORA_MARKERS) for k in keys):
        raise UnsupportedModel("this looks like a LoRA, put it in models/Lora")
    if any(k.startswith("string_to_param") for k in keys) or set(keys) <= {"emb_params", "clip_l", "clip_g"}:
        raise UnsupportedModel("this looks like a textual-inversion embedding, put it in models/embeddings")
    has_unet = any(k.startswith(UNET_PREFIX) for k in keys)
    if not has_unet and any(k.startswith(("encoder.", "decoder.", "first_stage_model.")) for k in keys):
        raise UnsupportedModel("this looks like a VAE, put it in models/VAE")


def _sd2_is_v(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """SD 2.x 768-v and 512-base have identical shapes; tell them apart as ComfyUI does.

    An explicit `v_pred` key wins. Otherwise ComfyUI's heuristic (comfy/supported_models.py, SD20):
    the std of one late-block norm bias is above 0.09 in v-prediction models. Unverified here on real weights.
    """
    if "v_pred" in state_dict:
        return True
    bias = state_dict.get(UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias")
    return bias is not None and torch.std(bias.float(), unbiased=False).item() > 0.09


# ---------------------------------------------------------------------------------------------- loading


def config_dir(family: ModelFamily) -> Path:
    """The offline diffusers-layout config folder for a family.

    Inpainting variants share their base folder: only the UNet's in_channels differs (9 instead of 4), and
    `load_single_file` passes that as an override. One override beats three near-duplicate folders.
    """
    folder = CONFIGS / family.name
    if not (folder / "model_index.json").is_file():
        raise CheckpointError(f"no config folder for {family.label} at {folder}; the installation is incomplete.")
    return folder


def load_tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer from one of our tokenizer folders, tokenizing exactly as the model was trained.

    OpenCLIP-based encoders pad with id 0 ("!"). Declaring "!" as the pad *token* would make transformers
    treat every "!" in a prompt as a special token (id 0 instead of the "!</w>" BPE pieces open_clip and
    A1111 produce), so we load with the default pad token and only set the pad *id*.
    """
    settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True, pad_token="<|endoftext|>")
    if len(tokenizer) != 49408:
        raise CheckpointError(f"the tokenizer in {folder} has {len(tokenizer)} tokens instead of 49408; reinstall.")
    pad = settings.get("pad_token", "<|endoftext|>")
    if pad != "<|endoftext|>":
        tokenizer.pad_token_id = tokenizer.convert_tokens_to_ids(pad)
    return tokenizer


def _scheduler(folder: Path, family: ModelFamily) -> Any:
    """The scheduler our config names (PNDM or Euler, as the originals ship), with the family's prediction."""
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    scheduler_class = getattr(diffusers, config["_class_name"])
    return scheduler_class.from_config(config, prediction_type=family.prediction)


def _pipeline_class(family: ModelFamily) -> type[DiffusionPipeline]:
    if family.name == "sdxl":
        return StableDiffusionXLInpaintPipeline if family.inpainting else StableDiffusionXLPipeline
    if family.name == "sdxl-refiner":  # it only refines pictures: its main pipeline is img2img (diffusers' too)
        return StableDiffusionXLInpaintPipeline if family.inpainting else StableDiffusionXLImg2ImgPipeline
    return StableDiffusionInpaintPipeline if family.inpainting else StableDiffusionPipeline


def load_single_file(
    path: Path, family: ModelFamily, *, dtype: torch.dtype, vae: AutoencoderKL | None = None
) -> DiffusionPipeline:
    """Build the txt2img (or, for 9-channel UNets, inpaint; for the SDXL refiner, img2img) pipeline of a
    checkpoint, without the network.

    `vae`, when given, replaces the checkpoint's own VAE (A1111's "SD VAE" setting) and is used as is.
    The safety checker is not loaded: single-file checkpoints never ship one.
    """
    path = Path(path)
    folder = config_dir(family)
    common: dict[str, Any] = {"config": str(folder), "local_files_only": True, "dtype": dtype}
    components: dict[str, Any] = {"scheduler": _scheduler(folder, family)}
    if family.name == "sdxl-refiner":
        # OpenCLIP-G only; its tokenizer is SDXL's second one, shipped once in the SDXL folder.
        components.update(tokenizer=None, text_encoder=None,
                          tokenizer_2=load_tokenizer(CONFIGS / "sdxl" / "tokenizer_2"))
    elif family.name == "sdxl":
        components.update(tokenizer=load_tokenizer(folder / "tokenizer"),
                          tokenizer_2=load_tokenizer(folder / "tokenizer_2"))
    else:
        components.update(tokenizer=load_tokenizer(folder / "tokenizer"), safety_checker=None, feature_extractor=None,
                          requires_safety_checker=False)
    if vae is not None:
        components["vae"] = vae
    try:
        if family.inpainting:
            components["unet"] = UNet2DConditionModel.from_single_file(
                str(path), subfolder="unet", in_channels=9, **common
            )
        return _pipeline_class(family).from_single_file(str(path), **common, **components)
    except (SingleFileComponentError, ValueError, RuntimeError, OSError, KeyError) as e:
        message = getattr(e, "message", None) or str(e)
        raise CheckpointError(
            f"{path.name} could not be loaded as {family.label}: {message.strip().splitlines()[0]} "
            "Is it really this kind of model, and is the file complete?"
        ) from e


def load_vae_file(path: Path, family: ModelFamily, *, dtype: torch.dtype) -> AutoencoderKL:
    """A separate VAE file (models/VAE) for use with checkpoints of `family`.

    Accepts the original layout (`encoder.*`, `decoder.*`, optionally under `first_stage_model.`) and
    diffusers' layout. The family's config supplies the architecture and the latent scaling factor.
    """
    path = Path(path)
    state_dict = read_state_dict(path)
    keys = list(state_dict)
    if not any(k.startswith(("encoder.", "decoder.", "first_stage_model.encoder.")) for k in keys):
        if any(k.startswith(UNET_PREFIX) for k in keys):
            raise UnsupportedModel(f"{path.name} is a full checkpoint, not a VAE: put it in models/Stable-diffusion")
        raise UnsupportedModel(f"{path.name} does not look like a VAE (no encoder.*/decoder.* weights)")
    try:
        return AutoencoderKL.from_single_file(
            state_dict, config=str(config_dir(family)), subfolder="vae", local_files_only=True, dtype=dtype
        )
    except (SingleFileComponentError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path.name} could not be loaded as a {family.label} VAE: {_first_line(e)}") from e
