"""The Train tab's helpers: the loss curve it draws and the pictures of an uploaded folder with their captions."""

from __future__ import annotations

import pytest
from PIL import Image

from modules.core.requests import RequestError
from modules.ui.train_tab import loss_curve, uploaded_pictures


def test_the_loss_curve_draws_falling_losses_from_top_left_to_bottom_right():
    image = loss_curve([1.0 - i / 100 for i in range(100)], size=(200, 100))
    pixels = image.load()
    dark = [(x, y) for x in range(200) for y in range(84) if pixels[x, y] == (40, 70, 160)]
    left = [y for x, y in dark if x < 30]
    right = [y for x, y in dark if x > 170]
    assert left and right and min(left) < min(right)
    assert loss_curve([0.5]) is None


def test_an_uploaded_folder_pairs_each_picture_with_its_text_file(tmp_path):
    Image.new("RGB", (16, 16), "red").save(tmp_path / "a.png")
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "b.jpg")
    (tmp_path / "a.txt").write_text("a red square\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("a blue square", encoding="utf-8")
    files = [str(p) for p in sorted(tmp_path.iterdir())]
    pictures = uploaded_pictures(files, use_text_files=True)
    assert [p.caption for p in pictures] == ["a red square", "a blue square"]
    assert [p.caption for p in uploaded_pictures(files, use_text_files=False)] == ["", ""]
    (tmp_path / "b.txt").unlink()
    with pytest.raises(RequestError, match="b.txt"):
        uploaded_pictures([str(p) for p in sorted(tmp_path.iterdir())], use_text_files=True)
