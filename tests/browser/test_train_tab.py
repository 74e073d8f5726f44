"""The Train tab in a real browser: a user uploads a folder of pictures with a caption file beside each, sets a
short training on a tiny model, follows it (step and loss while it runs), sees the finished LoRA with its loss
curve and sample picture, and finds it among the LoRA cards when opening the Lora tab, without a Refresh."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import CHROMIUM, served_webui
from training import shapes

pytestmark = pytest.mark.browser
WAIT = 120_000
NAME = "browser-blotch"


@pytest.fixture(scope="module")
def train_server(tiny_models_dir, tmp_path_factory):
    """A server of its own: the LoRA it trains must not show up in the other browser tests' LoRA lists."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    base = tmp_path_factory.mktemp("webui-train")
    models = base / "models"
    models.mkdir()
    for folder in ("Stable-diffusion", "VAE"):
        (models / folder).symlink_to(tiny_models_dir / folder, target_is_directory=True)
    (models / "Lora").mkdir()
    with served_webui(base, models) as served:
        yield served


@pytest.fixture
def folder(tmp_path):
    """Three demo-style pictures, each with its caption in a .txt file of the same name."""
    out = tmp_path / "blotches"
    out.mkdir()
    for seed in range(3):
        sample = shapes.training_sample(100 + seed, 32)
        sample.image.save(out / f"picture-{seed}.png")
        (out / f"picture-{seed}.txt").write_text(sample.caption or "a shape", encoding="utf-8")
    return out


def test_a_folder_trains_with_progress_and_the_lora_is_among_the_cards(browser_context, train_server, folder,
                                                                       artifacts_dir):
    from playwright.sync_api import expect

    url, _ = train_server
    expect.set_options(timeout=30_000)
    page = browser_context.new_page()
    try:
        page.goto(url, timeout=WAIT)
        expect(page.locator("#txt2img_generate")).to_be_visible(timeout=WAIT)
        page.get_by_role("tab", name="Train").click()
        page.locator("#train_name input, #train_name textarea").first.fill(NAME)
        page.locator("#train_trigger input, #train_trigger textarea").first.fill("blotchy")
        page.get_by_role("tab", name="Upload a folder").click()
        page.locator("#train_folder input[type=file]").set_input_files(str(folder))
        expect(page.locator("#train_folder")).to_contain_text(re.compile(r"picture-2\s*\.txt"), timeout=WAIT)
        page.locator("#train_caption_source").get_by_text("From a text file beside it").click()
        for field, value in (("steps", "12"), ("lr", "0.01"), ("sample_every", "6"), ("resolution", "32")):
            box = page.locator(f"#train_{field} input")
            box.fill(value)
            box.press("Tab")
        page.locator("#train_button").click()

        status = page.locator("#train_status")
        expect(status).to_contain_text(re.compile(r"Training: step \d+ of 12, loss \d"), timeout=WAIT)
        expect(page.locator("#train_loss img")).to_be_visible(timeout=WAIT)  # the curve grows while it runs
        page.screenshot(path=str(artifacts_dir / "train-running.png"), full_page=True)
        expect(status).to_contain_text(f"LoRA saved as {NAME} (12 steps)", timeout=3 * WAIT)
        expect(status).to_contain_text(f"<lora:{NAME}:1>")
        expect(page.locator("#train_samples img").first).to_be_visible(timeout=WAIT)
        page.screenshot(path=str(artifacts_dir / "train-done.png"), full_page=True)

        page.get_by_role("tab", name="Lora", exact=True).click()
        card = page.locator("#lora_cards").get_by_text(NAME, exact=True)
        expect(card).to_be_visible(timeout=WAIT)
        expect(page.locator("#lora_count")).to_contain_text("1 of 1 LoRAs")
        page.screenshot(path=str(artifacts_dir / "train-lora-card.png"), full_page=True)
        card.click()
        expect(page.locator("#lora_details")).to_contain_text("blotchy")  # its trigger word, from the metadata
    finally:
        page.close()
