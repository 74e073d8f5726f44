"""Search by picture and prompt help from history, in a real browser: a picture dropped in the History tab
finds the most similar past pictures with their prompts, "Find similar" does it for the picture shown, and
typing a prompt offers completions from past prompts, taken with the keyboard."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw

from modules.core.infotext import pnginfo_for
from tests.browser.conftest import CHROMIUM, served_webui

pytestmark = pytest.mark.browser
WAIT = 60_000
COLOURS = {"red": (220, 30, 30), "blue": (35, 75, 225), "green": (30, 165, 55), "black": (20, 20, 20),
           "yellow": (245, 220, 30), "white": (245, 245, 245)}
SCENES = (("red", "circle", "blue"), ("green", "square", "black"), ("yellow", "circle", "white"),
          ("white", "square", "green"))


def drawn(colour: str, shape: str, background: str) -> Image.Image:
    image = Image.new("RGB", (48, 48), COLOURS[background])
    draw = ImageDraw.Draw(image)
    (draw.ellipse if shape == "circle" else draw.rectangle)((12, 12, 36, 36), fill=COLOURS[colour])
    return image


@pytest.fixture(scope="module")
def search_server(tiny_models_dir, tmp_path_factory):
    """A server whose outputs/ holds four pictures with prompts, saved before it started."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    base = tmp_path_factory.mktemp("webui-history-search")
    folder = base / "outputs" / "txt2img-images" / "2024-05-06"
    folder.mkdir(parents=True)
    for number, (colour, shape, background) in enumerate(SCENES):
        text = (f"a {colour} {shape} on {background}, masterpiece, best quality\nSteps: 2, Sampler: Euler a, "
                f"Seed: {number}, Size: 48x48, Model: tiny-a")
        drawn(colour, shape, background).save(folder / f"{number:05d}-{number}.png", pnginfo=pnginfo_for(text))
    with served_webui(base, tiny_models_dir) as served:
        yield served


@pytest.fixture
def search_page(browser_context, search_server):
    from playwright.sync_api import expect

    url, _ = search_server
    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=WAIT)
    expect(tab.locator("#txt2img_generate")).to_be_visible(timeout=WAIT)
    try:
        yield tab
    finally:
        tab.close()


def test_typing_a_prompt_offers_past_fragments_taken_with_the_keyboard(search_page, artifacts_dir):
    from playwright.sync_api import expect

    page = search_page
    prompt = page.locator("#txt2img_prompt textarea")
    prompt.fill("")
    prompt.press_sequentially("a fox, mas", delay=60)
    options = page.locator("#prompt_suggestions li")
    expect(options.first).to_contain_text("masterpiece", timeout=WAIT)
    expect(options.first).to_contain_text("4×")  # used by all four pictures
    page.screenshot(path=str(artifacts_dir / "prompt-suggestions.png"), full_page=False)
    prompt.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    prompt.press("Enter")
    expect(prompt).to_have_value("a fox, masterpiece, ")
    expect(page.locator("#prompt_suggestions")).to_be_hidden()

    prompt.press_sequentially("a red", delay=60)
    expect(options.first).to_contain_text("a red circle on blue", timeout=WAIT)
    prompt.press("Escape")  # closes the list; the text stays as typed
    expect(page.locator("#prompt_suggestions")).to_be_hidden()
    expect(prompt).to_have_value("a fox, masterpiece, a red")
    prompt.press_sequentially(" c", delay=60)
    expect(options.first).to_contain_text("a red circle on blue", timeout=WAIT)
    prompt.press("Tab")  # Tab takes the first
    expect(prompt).to_have_value("a fox, masterpiece, a red circle on blue, ")


def test_a_dropped_picture_finds_the_most_similar_and_find_similar_follows_the_one_shown(
        search_page, tmp_path, artifacts_dir):
    from playwright.sync_api import expect

    page = search_page
    page.get_by_role("tab", name="History").click()
    thumbs = page.locator("#history_gallery img")
    expect(thumbs).to_have_count(4, timeout=WAIT)
    label = page.locator("#history_gallery [data-testid='block-label']")
    expect(label).to_have_text(re.compile(r"^\s*Pictures, newest first$"))
    dropped = tmp_path / "query.png"
    drawn("red", "circle", "blue").save(dropped)
    page.locator("#history_similar_drop input[type=file]").set_input_files(str(dropped))
    expect(page.locator("#history_page")).to_contain_text("most like the dropped picture", timeout=WAIT)
    expect(thumbs).to_have_count(4, timeout=WAIT)
    captions = page.locator("#history_gallery .caption-label, #history_gallery figcaption")
    expect(captions.first).to_contain_text("a red circle on blue", timeout=WAIT)
    expect(label).to_have_text(re.compile(r"^\s*Most similar to the dropped picture, best first$"))
    page.screenshot(path=str(artifacts_dir / "find-similar-dropped.png"), full_page=True)

    thumbs.nth(1).click()  # the second most similar: open it, then find pictures like it
    shown = page.locator("#history_prompt textarea")
    expect(shown).to_have_value(re.compile(r"masterpiece"), timeout=WAIT)
    prompt_shown = shown.input_value().split(",")[0]
    page.locator("#history_find_similar").click()
    expect(page.locator("#history_page")).to_contain_text("most like the picture shown", timeout=WAIT)
    expect(thumbs).to_have_count(3, timeout=WAIT)  # itself left out
    expect(captions.first).not_to_contain_text(prompt_shown)
    expect(label).to_have_text(re.compile(rf"^\s*Most similar to picture \d+ \({re.escape(prompt_shown)},.*\), best first$"))
    page.screenshot(path=str(artifacts_dir / "find-similar-shown.png"), full_page=True)

    page.locator("#history_search").click()  # a text search again: the title says so again
    expect(label).to_have_text(re.compile(r"^\s*Pictures, newest first$"), timeout=WAIT)
    expect(thumbs).to_have_count(4, timeout=WAIT)
