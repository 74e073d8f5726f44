"""Upscalers: exact sizes, spandrel detection of model files, tiled runs against untiled ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine.devices import DeviceConfig
from modules.engine.models.upscalers import UpscalerModels
from modules.engine.upscaling import LATENT_MODES, UpscalerError, UpscalerRegistry, latent_upscale, run_tiled


def picture(width: int = 24, height: int = 20, seed: int = 0) -> Image.Image:
    return Image.fromarray((np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8))


def save_esrgan(path, scale: int = 4, seed: int = 0) -> None:
    """A tiny RRDB (ESRGAN) network with random weights, in the old ESRGAN key layout spandrel detects."""
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def save_compact(path, scale: int = 2, seed: int = 0) -> None:
    """Real-ESRGAN's compact (SRVGG) network, as .safetensors."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(path))


@pytest.fixture
def models_root(tmp_path):
    save_esrgan(tmp_path / "ESRGAN" / "4x-tiny.pth")
    save_compact(tmp_path / "RealESRGAN" / "tiny-compact-x2.safetensors")
    (tmp_path / "SwinIR" / "broken.pth").parent.mkdir(parents=True)
    (tmp_path / "SwinIR" / "broken.pth").write_bytes(b"not a pickle")
    (tmp_path / "DAT").mkdir()
    torch.save({"some.other.weight": torch.zeros(3, 3)}, tmp_path / "DAT" / "unknown.pth")
    return tmp_path


@pytest.fixture
def registry(models_root):
    cpu = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    reg = UpscalerRegistry(UpscalerModels(models_root, cpu), {"ESRGAN_tile": 16, "ESRGAN_tile_overlap": 8})
    reg.refresh()
    return reg


@pytest.mark.parametrize("name", ["Lanczos", "Nearest", "None"])
@pytest.mark.parametrize("scale", [2.0, 1.5, 3.3])
def test_pixel_upscalers_give_exact_sizes(name, scale):
    image = picture(24, 20)
    out = UpscalerRegistry().upscale(image, name, scale)
    assert out.size == (int(24 * scale), int(20 * scale))
    assert UpscalerRegistry().upscale_to(image, name, 50, 30).size == (50, 30)


def test_nearest_repeats_pixels_and_lanczos_does_not():
    image = picture(8, 8)
    nearest = np.asarray(UpscalerRegistry().upscale(image, "Nearest", 2))
    assert np.array_equal(nearest[::2, ::2], np.asarray(image))
    assert np.array_equal(nearest[1::2, 1::2], np.asarray(image))
    lanczos = np.asarray(UpscalerRegistry().upscale(image, "Lanczos", 2))
    assert not np.array_equal(lanczos[1::2, 1::2], np.asarray(image))


@pytest.mark.parametrize("mode", list(LATENT_MODES))
def test_latent_modes_resize_latents(mode):
    latents = torch.randn(2, 4, 6, 5)
    out = latent_upscale(latents, mode, 12, 10)
    assert out.shape == (2, 4, 12, 10)
    assert torch.isfinite(out).all()


def test_latent_modes_differ_from_each_other():
    latents = torch.randn(1, 4, 6, 6)
    outs = {mode: latent_upscale(latents, mode, 12, 12) for mode in LATENT_MODES}
    assert torch.equal(outs["Latent (nearest)"][..., ::2, ::2], latents)
    assert not torch.allclose(outs["Latent"], outs["Latent (bicubic)"])
    assert not torch.allclose(outs["Latent (bicubic)"], outs["Latent (nearest)"])


def test_model_files_are_detected_and_bad_ones_listed_with_a_reason(registry):
    names = registry.names()
    assert names[:3] == ["None", "Lanczos", "Nearest"]
    assert "4x-tiny" in names and "tiny-compact-x2" in names
    bad = dict(registry.unsupported())
    assert set(map(lambda p: p.rsplit("/", 1)[-1], bad)) == {"broken.pth", "unknown.pth"}
    assert all(reason for reason in bad.values())
    assert any("not an architecture spandrel knows" in r for r in bad.values())
    with pytest.raises(UpscalerError, match="cannot be used"):
        registry.find("broken")


def test_unknown_upscaler_lists_the_choices(registry):
    with pytest.raises(UpscalerError, match="Lanczos"):
        registry.find("4x-UltraSharp")
    assert registry.find("lanczos") == "Lanczos"
    assert registry.find("Latent (bicubic)", latent_ok=True) == "Latent (bicubic)"
    with pytest.raises(UpscalerError):
        registry.find("Latent")  # latent modes are for the hires fix only


def test_model_upscaler_runs_at_its_factor_and_is_cached(registry):
    image = picture(20, 18)
    out = registry.upscale(image, "4x-tiny", 4)
    assert out.size == (80, 72)
    assert registry.models.loaded_names() == [str(registry.models.root / "ESRGAN" / "4x-tiny.pth")]
    # 2x model asked for 3x: applied twice (to 4x), then brought down to the exact size.
    assert registry.upscale(image, "tiny-compact-x2", 3).size == (60, 54)
    assert len(registry.models.loaded_names()) == 2


def test_tiled_run_matches_untiled_within_a_small_tolerance(models_root):
    from spandrel import ModelLoader

    model = ModelLoader().load_from_file(models_root / "ESRGAN" / "4x-tiny.pth").eval()
    x = torch.from_numpy(np.asarray(picture(40, 36), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    tiles = []
    with torch.inference_mode():
        whole = run_tiled(model, x, 4, tile=0, overlap=0)
        tiled = run_tiled(model, x, 4, tile=16, overlap=8, on_tile=lambda done, total: tiles.append((done, total)))
        seams = run_tiled(model, x, 4, tile=16, overlap=0)
    assert tiles[-1] == (9, 9)  # 3 x 3 tiles
    assert whole.shape == tiled.shape == (144, 160, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 2
    # Without context the tile borders show: the overlap is what hides them.
    assert np.abs(whole.astype(int) - seams.astype(int)).max() > 2


def test_transparency_survives_a_model_upscale(registry):
    image = picture(16, 16).convert("RGBA")
    image.putalpha(Image.new("L", (16, 16), 100))
    out = registry.upscale(image, "4x-tiny", 4)
    assert out.mode == "RGBA" and out.size == (64, 64)
    assert np.asarray(out.getchannel("A")).mean() == pytest.approx(100, abs=1)
