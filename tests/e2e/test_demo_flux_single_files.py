"""The Flux demo member from the single files a Flux user has (transformer in BFL's layout, CLIP and T5 files in
models/text_encoder, the VAE in models/VAE), through the model manager and our generation: it draws the same
picture as its diffusers folder, and says which file is missing when one is."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.manager import ModelManager

MODELS = REPO_ROOT / "models"
FOLDER = MODELS / "Stable-diffusion" / "demo-flux-shapes"
FILES = MODELS / "demo-flux-single-files"

pytestmark = pytest.mark.skipif(not (FOLDER.is_dir() and FILES.is_dir()), reason="the Flux demo member is not shipped")


def _models_dir(root, *, t5: bool = True):
    """A models/ folder as a Flux user has it, with links to the shipped files (the folder: for its configs)."""
    (root / "Stable-diffusion").mkdir(parents=True)
    (root / "text_encoder").mkdir()
    (root / "VAE").mkdir()
    (root / "Stable-diffusion" / "demo-flux-shapes").symlink_to(FOLDER, target_is_directory=True)
    (root / "Stable-diffusion" / "demo-flux-bfl.safetensors").symlink_to(
        FILES / "Stable-diffusion" / "demo-flux-shapes.safetensors")
    for name in ("demo-flux-shapes-clip.safetensors", *(("demo-flux-shapes-t5.safetensors",) if t5 else ())):
        (root / "text_encoder" / name).symlink_to(FILES / "text_encoder" / name)
    (root / "VAE" / "demo-flux-shapes-ae.safetensors").symlink_to(FILES / "VAE" / "demo-flux-shapes-ae.safetensors")
    return root


def _manager(root, cache) -> ModelManager:
    from modules.engine.devices import choose_device

    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE", cache_file=cache,
                           device=choose_device("auto", "auto"), models_in_ram=2,
                           text_encoder_dirs=(root / "text_encoder",), lora_dir=MODELS / "Lora")
    manager.refresh()
    return manager


@pytest.fixture(scope="module")
def single_manager(tmp_path_factory):
    root = _models_dir(tmp_path_factory.mktemp("flux-single") / "models")
    return _manager(root, root.parent / "models.json")


def _request(checkpoint: str, **fields) -> GenerationRequest:
    defaults = json.loads((FOLDER / "webui-defaults.json").read_text())
    base = GenerationRequest(prompt="a large red circle on a blue background", seed=7, checkpoint=checkpoint,
                             width=defaults["width"], height=defaults["height"], steps=defaults["steps"],
                             cfg_scale=defaults["cfg_scale"], sampler=defaults["sampler"])
    return replace(base, **fields)


def test_the_transformer_file_is_listed_as_flux_with_its_dtype_and_the_module_files_by_kind(single_manager):
    info = single_manager.resolve("demo-flux-bfl.safetensors")
    assert info.usable and info.family == "demo-flux" and info.flux_file
    assert info.family_label == "Demo (Flux architecture): Flux.1 schnell transformer (bfloat16, 3+3 blocks)"
    kinds = {m.name: (m.kind, m.dtype) for m in single_manager.modules}
    assert kinds == {"demo-flux-shapes-clip.safetensors": ("clip", "float32"),
                     "demo-flux-shapes-t5.safetensors": ("t5", "float32"),
                     "demo-flux-shapes-ae.safetensors": ("vae", "float32")}


def test_the_single_files_draw_the_same_picture_as_the_diffusers_folder(single_manager, samplers):
    from_folder = generate(validate(_request("demo-flux-shapes"), samplers=samplers), single_manager, samplers)
    from_files = generate(validate(_request("demo-flux-bfl.safetensors"), samplers=samplers), single_manager, samplers)
    a = np.asarray(from_folder.images[0]).astype(int)
    b = np.asarray(from_files.images[0]).astype(int)
    assert a.std() > 5  # a picture, not a blank
    # Same weights at the same compute dtype: the same pixels (the file's bf16 transformer is the folder's, rounded,
    # when the compute dtype is wider than bf16: then within a few levels).
    assert np.abs(a - b).max() <= (0 if single_manager.device.dtype.itemsize <= 2 else 8)
    # The parts it ran with, as Forge writes them, so that "Send to txt2img" restores the choice.
    info = from_files.infotexts[0]
    assert "Module 1: demo-flux-shapes-clip.safetensors" in info
    assert "Module 2: demo-flux-shapes-t5.safetensors" in info
    assert "Module 3: demo-flux-shapes-ae.safetensors" in info
    assert "Module 1" not in from_folder.infotexts[0]


def test_the_demo_lora_is_offered_on_the_transformer_file_and_draws_as_on_the_folder(single_manager, samplers):
    # The file declares itself the demo member (its metadata), so the demo's LoRA fits it and Flux.1 LoRAs do not.
    lora = single_manager.find_lora("demo-flux-pinkish")
    single_manager.check_lora_family(lora, single_manager.resolve("demo-flux-bfl.safetensors"))
    prompt = "a large red circle on a blue background, pinkish <lora:demo-flux-pinkish:2>"
    from_folder = generate(validate(_request("demo-flux-shapes", prompt=prompt), samplers=samplers), single_manager,
                           samplers)
    from_files = generate(validate(_request("demo-flux-bfl.safetensors", prompt=prompt), samplers=samplers),
                          single_manager, samplers)
    plain = generate(validate(_request("demo-flux-bfl.safetensors", prompt=prompt.split(" <lora")[0]),
                              samplers=samplers), single_manager, samplers)
    a, b = (np.asarray(r.images[0]).astype(int) for r in (from_folder, from_files))
    assert np.abs(a - b).max() <= (0 if single_manager.device.dtype.itemsize <= 2 else 8)
    assert np.abs(b - np.asarray(plain.images[0]).astype(int)).max() > 8  # the LoRA did act on the file's model
    assert "demo-flux-pinkish: " in from_files.infotexts[0]


def test_the_chosen_modules_are_honoured_and_a_wrong_one_is_refused_with_the_reason(single_manager, samplers):
    from modules.engine.models.single_file import CheckpointError

    chosen = ("demo-flux-shapes-ae.safetensors", "demo-flux-shapes-t5.safetensors", "demo-flux-shapes-clip.safetensors")
    with single_manager.use("demo-flux-bfl.safetensors", modules=chosen) as loaded:
        assert {m.name for m in loaded.info.parts} == set(chosen)
    with pytest.raises(CheckpointError, match="CLIP.*does not fit|were both chosen"):
        with single_manager.use("demo-flux-bfl.safetensors", modules=("demo-flux-shapes-clip.safetensors",
                                                                      "demo-flux-shapes-clip.safetensors")):
            pass
    with pytest.raises(CheckpointError, match="go with a transformer file"):
        with single_manager.use("demo-flux-shapes", modules=("demo-flux-shapes-ae.safetensors",)):
            pass


def test_a_missing_text_encoder_is_named_with_the_folder_it_goes_in(tmp_path):
    from modules.engine.models.single_file import CheckpointError

    root = _models_dir(tmp_path / "models", t5=False)
    manager = _manager(root, tmp_path / "models.json")
    with pytest.raises(CheckpointError, match=r"needs a T5-XXL text encoder \(t5xxl_fp16.safetensors.*\) in "
                                              r"models/text_encoder \(128 wide"):
        with manager.use("demo-flux-bfl.safetensors"):
            pass
