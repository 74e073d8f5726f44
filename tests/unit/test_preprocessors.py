"""ControlNet preprocessors on real pictures: size, type, and a property each map must have."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.engine.controlnet.preprocessors import (
    PreprocessorError,
    PreprocessorRegistry,
    fit_to,
    pixel_perfect_resolution,
)
from training import shapes


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return PreprocessorRegistry.default(tmp_path_factory.mktemp("annotators"))


@pytest.fixture(scope="module")
def picture():
    scene = shapes.Scene("star", "red", "blue", "center", "large")
    return shapes.render(scene, 256, random.Random(0)).image


def _drawing(ink: int, paper: int, size: int = 300) -> Image.Image:
    image = Image.new("RGB", (size, size), (paper,) * 3)
    ImageDraw.Draw(image).ellipse((60, 60, 240, 240), outline=(ink,) * 3, width=4)
    return image


def test_canny_is_a_binary_edge_map_on_the_inputs_edges(registry, picture):
    out = registry.run("canny", picture, 256)
    arr = np.asarray(out)
    assert out.size == (256, 256) and out.mode == "RGB"
    assert set(np.unique(arr)) <= {0, 255}
    edges = arr[..., 0] > 0
    assert edges.sum() > 100
    # Every edge pixel is within 2 px of a place where the input changes colour.
    # (In colour: red on blue has almost the same grey level on both sides of the edge.)
    rgb = np.asarray(picture, dtype=np.int16)
    change = (np.abs(np.diff(rgb, axis=0, prepend=rgb[:1])) + np.abs(np.diff(rgb, axis=1, prepend=rgb[:, :1]))).sum(-1) > 10
    from scipy import ndimage

    near = ndimage.binary_dilation(change, iterations=2)
    assert (edges & ~near).sum() == 0


def test_canny_thresholds_change_the_map(registry, picture):
    faint = picture.copy()
    ImageDraw.Draw(faint).rectangle((10, 10, 60, 60), fill=tuple(c + 12 for c in faint.getpixel((5, 5))))
    loose = np.asarray(registry.run("canny", faint, 256, threshold_a=5, threshold_b=10))
    strict = np.asarray(registry.run("canny", faint, 256, threshold_a=250, threshold_b=255))
    assert (loose > 0).sum() > (strict > 0).sum()


@pytest.mark.parametrize("ink,paper", [(0, 255), (255, 0), (40, 230)])
def test_scribble_threshold_gives_white_strokes_on_black_for_either_polarity(registry, ink, paper):
    out = np.asarray(registry.run("scribble_threshold", _drawing(ink, paper), 300, threshold_b=0))
    assert set(np.unique(out)) <= {0, 255}
    assert out[0, 0, 0] == 0 and out[150, 150, 0] == 0  # paper and the inside are black
    assert out[150, 60:66, 0].max() == 255  # the stroke is white


def test_scribble_line_growth_thickens(registry):
    thin = np.asarray(registry.run("scribble_threshold", _drawing(0, 255), 300, threshold_b=0))
    thick = np.asarray(registry.run("scribble_threshold", _drawing(0, 255), 300, threshold_b=3))
    assert (thick > 0).sum() > 1.5 * (thin > 0).sum()


def test_invert_and_none(registry, picture):
    assert np.array_equal(np.asarray(registry.run("none", picture, 256)), np.asarray(picture))
    inverted = np.asarray(registry.run("invert", picture, 256)).astype(int)
    assert np.array_equal(inverted, 255 - np.asarray(picture).astype(int))
    assert registry.canonical("invert (from white bg & black line)") == "invert"


def test_lineart_standard_finds_the_outline(registry):
    out = np.asarray(registry.run("lineart_standard", _drawing(0, 255), 256).convert("L"))
    assert out.shape == (256, 256)
    # The outline of the circle is bright, the middle of the circle dark.
    assert out[128, 48:60].max() > 100 and out[128, 128] < 50


def test_shuffle_is_deterministic_and_keeps_the_palette(registry, picture):
    a = registry.run("shuffle", picture, 256)
    b = registry.run("shuffle", picture, 256)
    assert a.size == (256, 256) and np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(picture))


def test_tile_resample_blurs_by_the_rate(registry, picture):
    same = registry.run("tile_resample", picture, 256, threshold_a=1)
    blurred = registry.run("tile_resample", picture, 256, threshold_a=8)
    def sharpest_step(img):
        return np.abs(np.diff(np.asarray(img, dtype=np.int16), axis=1)).max()
    assert np.array_equal(np.asarray(same), np.asarray(picture))
    assert blurred.size == picture.size and sharpest_step(blurred) < sharpest_step(same) / 2


def test_missing_annotator_names_the_file_and_never_downloads(registry, picture):
    assert registry.missing_files("softedge_hed") == ["ControlNetHED.pth"]
    assert "softedge_hed" not in registry.available() and "canny" in registry.available()
    with pytest.raises(PreprocessorError, match="ControlNetHED.pth"):
        registry.run("softedge_hed", picture, 256)


def test_unknown_and_failing_preprocessors_give_clear_errors(registry, picture):
    with pytest.raises(PreprocessorError, match="Unknown preprocessor 'nope'.*canny"):
        registry.run("nope", picture, 256)
    reg = PreprocessorRegistry.default()

    def broken(image, resolution, **_):
        raise ZeroDivisionError("boom")

    reg.register("broken", broken)
    with pytest.raises(PreprocessorError, match="broken preprocessor failed: boom"):
        reg.run("broken", picture, 256)


def test_registered_preprocessor_gets_its_slider_values(picture):
    reg = PreprocessorRegistry.default()
    seen = {}

    def custom(image, resolution, threshold_a=5, **_):
        seen.update(resolution=resolution, threshold_a=threshold_a)
        return image

    from modules.engine.controlnet.preprocessors import Slider

    reg.register("custom", custom, sliders=(Slider("A", 5, 0, 10),))
    reg.run("custom", picture, 128, threshold_a=7)
    assert seen == {"resolution": 128, "threshold_a": 7}


def test_fit_to_keeps_thin_lines_when_shrinking():
    big = Image.new("RGB", (512, 512))
    ImageDraw.Draw(big).line((0, 256, 511, 256), fill=(255, 255, 255), width=3)
    plain = np.asarray(fit_to(big, 48, 48, 0, lines=False))
    kept = np.asarray(fit_to(big, 48, 48, 0, lines=True))
    assert kept.max() > 200 and kept.max() > plain.max()


def test_fit_to_resize_modes_and_pixel_perfect():
    wide = Image.new("RGB", (400, 200), (255, 255, 255))
    assert fit_to(wide, 64, 64, 1, lines=False).size == (64, 64)
    filled = np.asarray(fit_to(wide, 64, 64, 2, lines=False))
    assert filled[0, 32].max() == 0 and filled[32, 32].min() == 255  # black bands, not stretched edges
    assert pixel_perfect_resolution(wide, 256, 256, 1) == 256  # cover: 200 * (256/200)
    assert pixel_perfect_resolution(wide, 256, 256, 0) == 256
    assert pixel_perfect_resolution(wide, 256, 256, 2) == 128  # fit: 200 * (256/400)
