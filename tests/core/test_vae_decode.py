"""VAE tiling and slicing: the choice per decode, invisible seams, and an out-of-memory decode retried tiled."""

from __future__ import annotations

import logging

import pytest
import torch

from modules.engine import vae_decode
from training.demo_model import TINY, build_vae

TILE = 32  # latents per tile: small for the tiny VAE, so a 160 px picture needs 4 x 4 overlapping tiles
GiB = 1024**3


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    model = build_vae(TINY).eval()
    model.tile_latent_min_size, model.tile_sample_min_size = TILE, TILE * 2
    return model


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(1, 4, 80, 80, generator=torch.Generator().manual_seed(1))


def decoded(vae, latents, tiled: bool) -> torch.Tensor:
    vae.use_tiling = tiled
    try:
        with torch.no_grad():
            return vae.decode(latents).sample
    finally:
        vae.use_tiling = False


def test_a_tiled_decode_matches_the_whole_decode_without_seams(vae, latents):
    calls: list[int] = []
    hook = vae.decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        tiled = decoded(vae, latents, True)
    finally:
        hook.remove()
    assert len(calls) == 16  # it really tiled: tiles start every 24 latents, 4 x 4 of them
    whole = decoded(vae, latents, False)
    diff = (tiled - whole).abs()[0].mean(0)  # per pixel, over the colour channels; pixels span [-1, 1]
    assert diff.mean() < 0.05
    # A seam is a step in the difference across a line: blended tiles show none larger than inside a tile.
    assert seam_strength(tiled, whole) < 2.5


def seam_strength(tiled: torch.Tensor, whole: torch.Tensor) -> float:
    """The largest step of (tiled - whole) across any column or row, over the median step."""
    d = (tiled - whole)[0]
    columns = (d[..., 1:] - d[..., :-1]).abs().mean((0, 1))
    rows = (d[:, 1:] - d[:, :-1]).abs().mean((0, 2))
    return max(float(columns.max() / columns.median()), float(rows.max() / rows.median()))


def test_the_seam_measure_sees_tiles_that_are_not_blended(vae, latents):
    vae.tile_overlap_factor = 0.0  # hard tile edges at 64 and 128 px
    try:
        tiled = decoded(vae, latents, True)
    finally:
        vae.tile_overlap_factor = 0.25
    assert seam_strength(tiled, decoded(vae, latents, False)) > 3.0


def test_auto_tiles_only_when_the_estimate_exceeds_free_memory(vae):
    small, large = (1, 4, 8, 8), (1, 4, 256, 256)
    assert not vae_decode.choose(vae, small, "auto", free_bytes=GiB).tiled
    need = vae_decode.estimated_peak_bytes(vae, large, torch.float32)
    assert vae_decode.choose(vae, large, "auto", free_bytes=need + 1) == vae_decode.DecodeChoice(
        False, False, vae_decode.choose(vae, large, "auto", free_bytes=need + 1).reason)
    assert vae_decode.choose(vae, large, "auto", free_bytes=need - 1).tiled


def test_a_batch_that_does_not_fit_is_sliced_before_it_is_tiled(vae):
    batch = (4, 4, 64, 64)
    per_picture = vae_decode.estimated_peak_bytes(vae, (1, 4, 64, 64), torch.float32)
    choice = vae_decode.choose(vae, batch, "auto", free_bytes=2 * per_picture)
    assert (choice.tiled, choice.sliced) == (False, True)


def test_the_setting_forces_tiling_on_or_off_and_refuses_other_values(vae):
    assert vae_decode.choose(vae, (1, 4, 8, 8), "on", free_bytes=100 * GiB).tiled
    assert not vae_decode.choose(vae, (1, 4, 512, 512), "off", free_bytes=1).tiled
    with pytest.raises(ValueError, match="VAE tiling must be one of auto, on, off, not 'sometimes'"):
        vae_decode.choose(vae, (1, 4, 8, 8), "sometimes", free_bytes=GiB)


def _out_of_memory_unless_tiled(vae, monkeypatch) -> list[bool]:
    """Make the whole decode run out of memory, as a big one would; record each attempt's tiling."""
    attempts: list[bool] = []
    original = type(vae)._decode

    def _decode(self, z, *args, **kwargs):
        if self is vae and not self.use_tiling:
            attempts.append(False)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.00 GiB")
        attempts.append(True)
        return original(self, z, *args, **kwargs)

    monkeypatch.setattr(type(vae), "_decode", _decode)
    return attempts


def test_a_decode_that_runs_out_of_memory_is_retried_tiled(vae, latents, monkeypatch, caplog):
    expected = decoded(vae, latents, True)
    attempts = _out_of_memory_unless_tiled(vae, monkeypatch)
    notes: list[str] = []
    with caplog.at_level(logging.INFO, logger="modules.engine.vae_decode"), \
            vae_decode.guarded(vae, "auto", notes, free_bytes=lambda _device: 100 * GiB):
        with torch.no_grad():
            result = vae.decode(latents).sample
    assert attempts[0] is False and attempts[-1] is True
    assert torch.equal(result, expected)
    assert notes and "decoded again in overlapping tiles" in notes[0] and "160x160" in notes[0]
    assert "retrying tiled" in caplog.text and "whole" in caplog.text  # the choice and the retry are logged
    assert "decode" not in vae.__dict__ and vae.use_tiling is False  # the VAE is left as it was


def test_with_tiling_forced_off_out_of_memory_fails_the_decode(vae, latents, monkeypatch):
    _out_of_memory_unless_tiled(vae, monkeypatch)
    with vae_decode.guarded(vae, "off", []), pytest.raises(torch.OutOfMemoryError):
        vae.decode(latents)


def test_a_job_whose_decode_runs_out_of_memory_finishes_tiled_with_the_same_infotext(manager, samplers,
                                                                                       monkeypatch):
    from dataclasses import replace

    from diffusers import AutoencoderKL

    from modules.core.requests import GenerationRequest
    from modules.engine.generation import generate

    request = GenerationRequest(prompt="a red circle", width=64, height=64, steps=2, seed=5, sampler="Euler",
                                checkpoint="tiny-a", batch_size=2)
    plain = generate(request, manager, samplers)
    original = AutoencoderKL._decode

    def _decode(self, z, *args, **kwargs):
        if not self.use_tiling:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.00 GiB")
        return original(self, z, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "_decode", _decode)
    retried = generate(request, manager, samplers)  # the pipeline's own decode (output_type="pil")
    assert len(retried.images) == 2 and retried.infotexts == plain.infotexts
    assert any("decoded again in overlapping tiles" in w for w in retried.warnings)
    assert not any("tiles" in w for w in plain.warnings)
    with pytest.raises(torch.OutOfMemoryError):
        generate(replace(request, batch_size=1), manager, samplers, vae_tiling="off")


def test_the_vae_tiling_flag_reaches_the_settings():
    from modules.core.settings import settings_from_args

    assert settings_from_args([]).vae_tiling == "auto"
    assert settings_from_args(["--vae-tiling", "on"]).vae_tiling == "on"
    with pytest.raises(SystemExit):
        settings_from_args(["--vae-tiling", "sometimes"])
