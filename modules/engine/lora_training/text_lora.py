"""A LoRA on the text encoders for the length of a training job: kohya's targets (CLIP's attention projections and
MLP), low-rank weights added to each layer's output in a forward hook.

Hooks rather than a PEFT adapter: the cached pipeline's text encoder may already carry the app's generation
adapters, and removing a hook leaves the encoder exactly as it was (no wrapper layers, no adapter to delete).
Names follow kohya's sd-scripts (`lora_te_text_model_encoder_layers_0_self_attn_q_proj`; `lora_te1_`/`lora_te2_`
for SDXL's two encoders), which A1111, ComfyUI and diffusers' `load_lora_weights` read."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def text_encoders(pipe: Any) -> list[tuple[str, nn.Module]]:
    """(kohya prefix, encoder): `lora_te` for one encoder, `lora_te1`/`lora_te2` for SDXL's two."""
    encoders = [m for m in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None))
                if m is not None]
    if len(encoders) == 1:
        return [("lora_te", encoders[0])]
    return [(f"lora_te{n}", encoder) for n, encoder in enumerate(encoders, start=1)]


def kohya_text_name(prefix: str, path: str) -> str | None:
    """An encoder's module path -> kohya's name; None for layers outside the transformer blocks. transformers 5
    dropped the `text_model.` level of CLIPTextModel's paths; kohya's names keep it (diffusers strips it again)."""
    start = path.find("encoder.layers.")
    if start < 0:
        return None
    return f"{prefix}_text_model.{path[start:]}".replace(".", "_")


class TextLora:
    """Trainable low-rank weights on every target layer of the encoders; `enabled` switches them off (for the
    base model's prediction that output preservation compares with)."""

    def __init__(self, encoders: list[tuple[str, nn.Module]], rank: int, alpha: float) -> None:
        self.enabled = True
        self.scale = alpha / rank
        self.layers: dict[str, tuple[nn.Parameter, nn.Parameter]] = {}
        self._handles: list[Any] = []
        self._frozen: list[tuple[nn.Parameter, bool]] = []
        for prefix, encoder in encoders:
            for param in encoder.parameters():
                # Gradients reach the adapter through the encoder; its own weights need none.
                self._frozen.append((param, param.requires_grad))
                param.requires_grad_(False)
            for path, module in encoder.named_modules():
                clean = path.removesuffix(".base_layer")  # a layer wrapped by a generation adapter (PEFT)
                if not isinstance(module, nn.Linear) or clean.rsplit(".", 1)[-1] not in TEXT_TARGETS:
                    continue
                name = kohya_text_name(prefix, clean)
                if name is None or name in self.layers:
                    continue
                device = module.weight.device
                down = nn.Parameter(torch.empty(rank, module.in_features, device=device, dtype=torch.float32))
                nn.init.kaiming_uniform_(down, a=math.sqrt(5))  # as PEFT: down random, up zero, so it starts at 0
                up = nn.Parameter(torch.zeros(module.out_features, rank, device=device, dtype=torch.float32))
                self.layers[name] = (down, up)
                self._handles.append(module.register_forward_hook(self._hook(down, up)))
        if not self.layers:
            self.remove()
            raise ValueError("the text encoder has no layers a LoRA can train (no q_proj/k_proj/v_proj/fc1...)")

    def _hook(self, down: nn.Parameter, up: nn.Parameter):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            if not self.enabled:
                return output
            delta = (inputs[0].float() @ down.t()) @ up.t() * self.scale
            return output + delta.to(output.dtype)
        return hook

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(f"{name}.{part}", param) for name, pair in self.layers.items()
                for part, param in zip(("lora_down", "lora_up"), pair)]

    def weights(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: (down.detach().clone(), up.detach().clone()) for name, (down, up) in self.layers.items()}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for param, wanted in self._frozen:
            param.requires_grad_(wanted)
        self._frozen.clear()
