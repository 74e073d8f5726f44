"""The Checkpoint Merger tab in a real browser: merge two checkpoints, see the result, and find the new model in
txt2img's checkpoint list without reloading. Served on a models folder of its own (the merge writes into it)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import served_webui

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def merger_server(tiny_models_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge-models")
    (root / "Stable-diffusion").mkdir()
    (root / "VAE").mkdir()
    for name in ("tiny-a", "tiny-b"):
        (root / "Stable-diffusion" / name).symlink_to(tiny_models_dir / "Stable-diffusion" / name,
                                                      target_is_directory=True)
    with served_webui(tmp_path_factory.mktemp("merge-webui"), root) as served:
        yield served, root


def _choose(page, elem_id: str, option: str) -> None:
    from playwright.sync_api import expect

    page.locator(f"#{elem_id} input").click()
    # Each dropdown keeps its list in the page once opened: only the open one's options are visible.
    page.locator(f"li[role=option][aria-label='{option}']:visible").click()
    page.locator("#merge_name").click()  # closes the list, so the next dropdown's options are the only ones shown
    expect(page.locator("li[role=option]:visible")).to_have_count(0)


def test_the_merger_tab_merges_and_txt2img_lists_the_new_checkpoint(browser_context, merger_server):
    from playwright.sync_api import expect

    (url, _), root = merger_server
    expect.set_options(timeout=60_000)
    page = browser_context.new_page()
    try:
        page.goto(url, timeout=60_000)
        expect(page.locator("#txt2img_generate")).to_be_visible()
        page.get_by_role("tab", name="Checkpoint Merger").click()
        _choose(page, "merge_primary", "tiny-a")
        _choose(page, "merge_secondary", "tiny-b")
        page.locator("#merge_name textarea, #merge_name input").first.fill("browser-mix")
        page.locator("#merge_button").click()
        expect(page.locator("#merge_status")).to_contain_text("Checkpoint saved as browser-mix", timeout=120_000)
        assert (root / "Stable-diffusion" / "browser-mix" / "unet").is_dir()
        # Merging again under the same name is refused, and says so.
        page.locator("#merge_button").click()
        expect(page.locator("#merge_status")).to_contain_text("already exists")
        page.get_by_role("tab", name="txt2img").click()
        page.locator("#txt2img_checkpoint input").click()
        expect(page.locator("li[role=option][aria-label^='browser-mix']:visible")).to_have_count(1)
    finally:
        page.close()
