"""Write the Flux demo member as the single files a real Flux user has, from its diffusers folder.

    python -m training.export_flux --folder models/Stable-diffusion/demo-flux-shapes --models-dir models

- `<models>/Stable-diffusion/<name>.safetensors`: the transformer alone in Black Forest Labs' release layout
  (`double_blocks.*`, `single_blocks.*`; bf16), with its rotary axes in the metadata (`flux.axes_dims_rope`: its
  heads are not Flux.1's 128 wide, so they cannot be inferred);
- `<models>/text_encoder/<name>-clip.safetensors` and `<name>-t5.safetensors`: the encoders in transformers' layout,
  as ComfyUI's `clip_l.safetensors` and `t5xxl_fp16.safetensors` are;
- `<models>/VAE/<name>-ae.safetensors`: the autoencoder in BFL's `ae.safetensors` layout (LDM key names, no quant
  convs).
Nothing is overwritten: an existing file stops the export, naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from modules.engine.models.flux_files import AXES_METADATA, diffusers_to_bfl


def vae_to_ldm(state_dict: dict[str, torch.Tensor], blocks: int) -> dict[str, torch.Tensor]:
    """diffusers' AutoencoderKL keys -> the original (LDM/BFL) names; attention projections become 1x1 convs."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = key
        for part in ("encoder", "decoder"):
            new = new.replace(f"{part}.conv_norm_out.", f"{part}.norm_out.")
            new = new.replace(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.")
            new = new.replace(f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.")
            new = new.replace(f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.")
        for i in range(blocks):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            # The decoder's up blocks run in the opposite order in LDM's numbering.
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{blocks - 1 - i}.block.")
            new = new.replace(f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{blocks - 1 - i}.upsample.")
        new = new.replace(".conv_shortcut.", ".nin_shortcut.")
        if ".mid.attn_1." in new:
            for ours, theirs in (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                                 ("to_out.0.", "proj_out.")):
                new = new.replace(".attn_1." + ours, ".attn_1." + theirs)
            if value.dim() == 2:
                value = value[:, :, None, None]
        out[new] = value.contiguous()
    return out


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    if path.exists():
        raise FileExistsError(f"{path} exists; move it away first (the export never overwrites)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.rename(path)


def export_single_files(folder: Path, models_dir: Path, name: str) -> list[Path]:
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel

    transformer = FluxTransformer2DModel.from_pretrained(folder, subfolder="transformer")
    bfl = {k: v.to(torch.bfloat16).contiguous()
           for k, v in diffusers_to_bfl(transformer.state_dict(), transformer.config).items()}
    axes = json.dumps(list(transformer.config.axes_dims_rope))
    clip = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").state_dict()
    # transformers 5 leaves out the `text_model.` prefix that clip_l files (and older transformers) have.
    clip = {(k if k.startswith("text_model.") else f"text_model.{k}"): v.contiguous() for k, v in clip.items()}
    t5 = {k: v.contiguous() for k, v in T5EncoderModel.from_pretrained(folder, subfolder="text_encoder_2").state_dict().items()
          if k != "encoder.embed_tokens.weight"}  # tied to shared.weight; files carry it once
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    paths = [models_dir / "Stable-diffusion" / f"{name}.safetensors",
             models_dir / "text_encoder" / f"{name}-clip.safetensors",
             models_dir / "text_encoder" / f"{name}-t5.safetensors",
             models_dir / "VAE" / f"{name}-ae.safetensors"]
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path} exists; move it away first (the export never overwrites)")
    _write(paths[0], bfl, {AXES_METADATA: axes})
    _write(paths[1], clip)
    _write(paths[2], t5)
    _write(paths[3], vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels)))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True, help="the member's diffusers folder")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--name", default="demo-flux-shapes")
    args = parser.parse_args(argv)
    for path in export_single_files(args.folder, args.models_dir, args.name):
        print(path)


if __name__ == "__main__":
    main()
