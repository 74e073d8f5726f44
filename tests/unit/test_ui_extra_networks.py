"""Pure helpers of the Lora, Textual Inversion and ControlNet panels."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from modules.engine.models.loras import LoraInfo
from modules.ui.canvas import white_page
from modules.ui.components.canvas.value import CanvasLayer, CanvasValue
from modules.ui.controlnet_panel import drawn_picture
from modules.ui.embeddings_tab import insert_word
from modules.ui.lora_tab import card_html, insert_tag, matches


def test_insert_tag_appends_once():
    assert insert_tag("", "ink") == "<lora:ink:1>"
    assert insert_tag("a cat ", "ink") == "a cat <lora:ink:1>"
    assert insert_tag("a cat <lora:ink:1>", "ink") == "a cat <lora:ink:1>"
    assert insert_word("a cat", "EasyNegative") == "a cat, EasyNegative"
    assert insert_word(None, "x") == "x"


def test_search_matches_names_triggers_and_family():
    info = LoraInfo("ink", Path("/m/Lora/styles/ink.safetensors"), "sd1",
                    {"modelspec.trigger_phrase": "inky, dark lines", "ss_output_name": "ink-v2"})
    assert matches(info, "") and matches(info, "INK") and matches(info, "dark") and matches(info, "sd 1.x")
    assert matches(info, "ink-v2") and not matches(info, "watercolour")
    html = card_html(info, "")
    assert "<b>ink</b>" in html and "inky, dark lines" in html
    assert "&lt;script" in card_html(LoraInfo("<script>", Path("x.safetensors"), None), "")


def test_drawn_picture_ignores_an_untouched_canvas():
    assert drawn_picture(None) is None
    assert drawn_picture(white_page()) is None
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line((0, 0, 63, 63), fill=(0, 0, 0, 255), width=3)
    page = white_page((64, 64))
    picture = drawn_picture(CanvasValue(64, 64, page.background, (CanvasLayer("control", "control", layer),)))
    assert picture.mode == "RGB" and picture.getpixel((32, 32)) == (0, 0, 0)
    hidden = CanvasLayer("control", "control", layer, visible=False)
    assert drawn_picture(CanvasValue(64, 64, page.background, (hidden,))) is None  # a hidden layer is not sent
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).line((0, 0, 63, 63), fill=(0, 0, 0, 255), width=3)
    # Strokes on a transparent layer count as strokes on white paper.
    assert drawn_picture(transparent).getpixel((0, 63)) == (255, 255, 255)
