"""In the browser: choosing a Flux transformer file pre-selects its text encoders and VAE in "VAE / Text encoder"
beside the checkpoint, and the picture's parameters name them (Forge's "Module N")."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import CHROMIUM, served_webui

WAIT = 240_000  # a job on a shared 2-core machine with software rendering


@pytest.fixture(scope="module")
def flux_server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    root = tmp_path_factory.mktemp("browser-flux-models")
    folder = save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", guidance=True)
    export_single_files(folder, root, "tiny-flux-bfl")
    with served_webui(tmp_path_factory.mktemp("webui-flux"), root) as served:
        yield served


def test_a_flux_file_preselects_its_files_and_the_picture_names_them(browser_context, flux_server, artifacts_dir):
    from playwright.sync_api import expect

    url, _ = flux_server
    expect.set_options(timeout=60_000)
    page = browser_context.new_page()
    try:
        page.goto(url, timeout=60_000)
        expect(page.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
        select = page.locator("#txt2img_modules")
        expect(select).to_contain_text("VAE / Text encoder")
        # The diffusers folder carries its own encoders: nothing chosen; the transformer file: its three files.
        page.locator("#txt2img_checkpoint input").click()
        page.locator("li[role=option][aria-label^='tiny-flux ']:visible, "
                     "li[role=option][aria-label='tiny-flux']:visible").first.click()
        expect(select).not_to_contain_text("tiny-flux-bfl-ae.safetensors")
        page.locator("#txt2img_checkpoint input").click()
        page.locator("li[role=option][aria-label^='tiny-flux-bfl.safetensors']:visible").click()
        for name in ("tiny-flux-bfl-clip.safetensors", "tiny-flux-bfl-t5.safetensors", "tiny-flux-bfl-ae.safetensors"):
            expect(select).to_contain_text(name)
        page.screenshot(path=str(artifacts_dir / "flux-modules-preselected.png"), full_page=False)
        page.locator("#txt2img_prompt textarea").fill("a red circle")
        page.locator("#txt2img_generate").click()
        info = page.locator("#txt2img_info textarea")
        expect(info).to_have_value(re.compile(r"Module 1: tiny-flux-bfl-clip\.safetensors, "
                                              r"Module 2: tiny-flux-bfl-t5\.safetensors, "
                                              r"Module 3: tiny-flux-bfl-ae\.safetensors"), timeout=WAIT)
        page.screenshot(path=str(artifacts_dir / "flux-modules-generated.png"), full_page=False)
    finally:
        page.close()
