""""Send to" under the results: the clicked picture goes on; an empty gallery says what to do."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from modules.ui.send_to import _with_picture


def test_the_clicked_picture_is_sent_and_an_empty_gallery_is_refused(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (48, 48), (200, 0, 0)).save(first)
    Image.new("RGB", (48, 48), (0, 0, 200)).save(second)
    send = _with_picture(lambda picture: picture)
    gallery = [{"image": {"path": str(first)}, "caption": None}, {"image": {"path": str(second)}, "caption": None}]
    assert send(gallery, 1).getpixel((0, 0)) == (0, 0, 200)
    assert send(gallery, None).getpixel((0, 0)) == (200, 0, 0)  # nothing clicked yet: the first
    with pytest.raises(gr.Error, match="generate a picture first"):
        send([], 0)
