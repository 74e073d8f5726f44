"""The status line's links to saved pictures, and the page's own script and styles (modules/ui)."""

from __future__ import annotations

from pathlib import Path

from modules.ui import page_assets
from modules.ui.outputs_view import MAX_NAMED, file_url, saved_html, shown_name


def test_a_saved_picture_is_named_as_history_names_it_and_linked_through_the_file_route(tmp_path):
    root = tmp_path / "outputs"
    picture = root / "alice" / "txt2img-images" / "2026-12-02" / "00001-42.png"
    html = saved_html([str(picture)], root)
    assert ">alice/txt2img-images/2026-12-02/00001-42.png</a>" in html
    assert f'href="gradio_api/file={picture}"' in html  # relative: works behind a proxy's root_path too
    assert 'target="_blank"' in html and html.startswith('<div class="saved-files">Saved: ')


def test_names_that_could_be_markup_are_escaped_and_spaces_quoted(tmp_path):
    picture = tmp_path / "a <b> & c.png"
    html = saved_html([picture], tmp_path)
    assert "<b>" not in html and "a &lt;b&gt; &amp; c.png" in html
    assert "%20%3Cb%3E%20%26%20c.png" in file_url(picture)


def test_a_file_outside_the_outputs_folder_shows_its_name_only(tmp_path):
    assert shown_name(tmp_path / "elsewhere" / "x.png", tmp_path / "outputs") == "x.png"
    assert shown_name(Path("/x/y.png"), None) == "y.png"


def test_a_big_batch_names_a_few_files_and_counts_the_rest(tmp_path):
    paths = [tmp_path / f"{i:05d}.png" for i in range(MAX_NAMED + 3)]
    html = saved_html(paths, tmp_path)
    assert html.count("<a ") == MAX_NAMED and html.endswith(" and 3 more</div>")
    assert saved_html([], tmp_path) == ""


def test_the_page_script_names_the_icon_buttons_and_cannot_be_closed_early(monkeypatch):
    monkeypatch.setitem(page_assets.BUTTON_NAMES, "x", "</script><script>alert(1)")
    head = page_assets.head()
    assert head.startswith("<script>") and head.count("</script>") == 1
    assert '"txt2img_random_seed": "Random seed' in head
    assert "keydown" in head and "Escape" in head


def test_the_page_styles_name_cjk_and_emoji_fonts_and_fill_preview_boxes():
    css = page_assets.css()
    for family in ('"Microsoft YaHei"', '"PingFang SC"', '"Noto Sans CJK SC"', '"Noto Color Emoji"'):
        assert family in css
    assert "image-rendering: pixelated" in css and "object-fit: contain" in css


def _is_emoji(char: str) -> bool:
    return ord(char) >= 0x1F000 or 0x2600 <= ord(char) <= 0x27BF or char == "\ufe0f"


def test_every_emoji_in_the_ui_and_shipped_extensions_is_in_the_shipped_symbol_font():
    root = Path(__file__).resolve().parents[2]
    used = {c for path in [*root.glob("modules/ui/*.py"), *root.glob("extensions/*/*.py")]
            for c in path.read_text(encoding="utf-8") if _is_emoji(c)}
    missing = used - set(page_assets.SYMBOLS)
    assert not missing, (f"{' '.join(sorted(missing))} would draw as a box where no emoji font is installed: add "
                         "it to page_assets.SYMBOLS and make the subset again (modules/ui/static/fonts/README.md)")


def test_the_shipped_fonts_are_inline_and_limited_to_their_glyphs():
    faces = page_assets.font_faces()
    assert faces.count("@font-face") == 2 and "data:font/woff2;base64,d09GMg" in faces  # the woff2 signature
    assert "unicode-range: U+1F504, U+1F3B2" in faces and "unicode-range: U+4E2D, U+6587" in faces
    assert '"WebUI Symbols"' in page_assets.css().split("--font:")[1]
