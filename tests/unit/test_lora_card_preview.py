"""The shipped demo LoRA has a card picture drawn with it, and the Lora tab's card shows it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from modules.core.infotext import parse_infotext, read_image_infotext
from modules.engine.models.loras import describe

REPO = Path(__file__).resolve().parents[2]
DEMO_LORA = REPO / "models" / "Lora" / "demo-night.safetensors"


def test_the_demo_lora_has_a_preview_drawn_with_it_at_the_demo_size():
    info = describe(DEMO_LORA)
    assert info.preview == DEMO_LORA.with_suffix(".png")
    with Image.open(info.preview) as image:
        assert image.size == (48, 48)
        made = parse_infotext(read_image_infotext(image))
    assert "<lora:demo-night:1>" in made.prompt and made.params["Model"] == "demo-shapes"
    assert info.preview.stat().st_size < 20_000


def test_the_card_shows_the_preview_as_a_crisp_png(tmp_path):
    from modules.ui.lora_tab import _thumbnail, card_html

    info = describe(DEMO_LORA)
    thumbnail = _thumbnail(info.preview)
    assert thumbnail.startswith("data:image/png;base64,")
    card = card_html(info, thumbnail)
    assert f"src='{thumbnail}'" in card and "image-rendering:pixelated" in card and "demo-night preview" in card
    bare = tmp_path / "plain.safetensors"
    bare.write_bytes(DEMO_LORA.read_bytes())
    assert "<img" not in card_html(describe(bare), _thumbnail(describe(bare).preview))
