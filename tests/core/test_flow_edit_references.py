"""Several reference pictures in one edit (Qwen-Image-Edit Plus takes up to three), as the bare pipeline takes them;
more than the model takes is refused with the reason."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_flow_families as tiny
from tests.fixtures.tiny import tiny_manager

RED, BLUE = Image.new("RGB", (32, 32), (200, 30, 30)), Image.new("RGB", (32, 32), (20, 30, 220))


@pytest.fixture(scope="module")
def plus(tmp_path_factory):
    root = tmp_path_factory.mktemp("edit-plus")
    folder = tiny.save_tiny_qwen_image_edit(root / "Stable-diffusion" / "tiny-qwen-edit-plus")
    # Edit Plus has Edit's components; its pipeline shows the text encoder and the transformer every reference.
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "QwenImageEditPlusPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    (root / "VAE").mkdir()
    return root, folder


def _request(**fields) -> GenerationRequest:
    base = GenerationRequest(prompt="put the red circle on the blue ground", negative_prompt="",
                             checkpoint="tiny-qwen-edit-plus", sampler="Euler", steps=2, cfg_scale=1.0, width=32,
                             height=32, seed=7, mode="img2img", init_images=(RED, BLUE))
    return replace(base, **fields)


def test_an_edit_plus_takes_two_references_in_one_call_like_the_bare_pipeline(plus, tmp_path, cpu_fp32,
                                                                               monkeypatch):
    from diffusers import QwenImageEditPlusPipeline
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as edit_plus

    # The pipeline resizes every reference to ~1 megapixel for its VAE (and 384x384 for its text encoder) whatever
    # the model's size: minutes on tiny components. Both sides below read these module constants, so shrinking
    # them keeps the comparison exact.
    monkeypatch.setattr(edit_plus, "VAE_IMAGE_SIZE", 64 * 64)
    monkeypatch.setattr(edit_plus, "CONDITION_IMAGE_SIZE", 64 * 64)
    root, folder = plus
    manager = tiny_manager(root, cpu_fp32, tmp_path / "cache.json")
    ours = generate(_request(), manager, SamplerRegistry.default())
    assert len(ours.images) == 1 and "Edit references: 2" in ours.infotexts[0]
    pipe = QwenImageEditPlusPipeline.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(image=[RED, BLUE], prompt=_request().prompt, negative_prompt="", true_cfg_scale=1.0, height=32,
                width=32, num_inference_steps=2, generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))


def test_more_references_than_an_edit_plus_takes_are_refused_with_the_reason(plus, tmp_path, cpu_fp32):
    from modules.engine.flow_generation import check

    manager = tiny_manager(plus[0], cpu_fp32, tmp_path / "cache.json")
    info = manager.resolve("tiny-qwen-edit-plus")
    with pytest.raises(RequestError, match="takes at most 3 reference pictures per edit, but 4 were given"):
        check(_request(init_images=(RED, BLUE, RED, BLUE)), info.family, info.family_label, info.name)
