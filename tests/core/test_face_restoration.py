"""Face restoration on a real photograph (scikit-image's astronaut) with tiny random restorers that spandrel
recognises: detection, what changes and what must not, visibility, and the messages when a model is missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.devices import DeviceConfig
from modules.engine.faces.detection import FaceBox, FaceDetector
from modules.engine.faces.restoration import crop_region, feather_mask, restore_faces
from modules.engine.faces.restorers import (
    FaceRestoreError,
    FaceRestorers,
    available_restorers,
    check_request,
    extra_arches_installed,
)
from tests.fixtures.faces import astronaut, save_tiny_restoreformer

CPU = DeviceConfig(torch.device("cpu"), torch.float32, "tests run in float32 on the CPU")
FACE = FaceBox(175, 70, 93, 93)  # where the astronaut's face is (eyes to mouth), measured by hand


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("face-models")
    save_tiny_restoreformer(root / "GFPGAN")
    (root / "Codeformer").mkdir()
    return root


@pytest.fixture(scope="module")
def restorers(models) -> FaceRestorers:
    faces = FaceRestorers(models / "GFPGAN", models / "Codeformer", CPU)
    faces.refresh()
    return faces


@pytest.fixture(scope="module")
def restored(restorers):
    """The astronaut through the tiny RestoreFormer once (about 5 s on a CPU), shared by the tests below."""
    return restorers.restore(astronaut(), "RestoreFormer")


def test_the_detector_finds_the_astronauts_face_and_nothing_else():
    faces = FaceDetector().detect(astronaut())
    assert len(faces) == 1
    assert faces[0].overlap(FACE) > 0.7


def test_the_detector_finds_the_face_in_a_larger_picture_too():
    big = astronaut().resize((1024, 1024))
    faces = FaceDetector().detect(big)
    assert len(faces) == 1
    assert faces[0].overlap(FaceBox(350, 140, 186, 186)) > 0.7


def test_restoration_changes_the_face_and_no_pixel_outside_its_crop(restored):
    image, regions = restored
    before, after = np.asarray(astronaut()), np.asarray(image)
    assert len(regions) == 1
    left, top, right, bottom = regions[0].inside(512, 512)
    assert left <= FACE.left and top <= FACE.top
    assert right >= FACE.left + FACE.width and bottom >= FACE.top + FACE.height
    outside = np.ones(before.shape[:2], dtype=bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(before[outside], after[outside])
    centre = (slice(FACE.top + 30, FACE.top + 60), slice(FACE.left + 30, FACE.left + 60))
    assert np.abs(before[centre].astype(int) - after[centre].astype(int)).mean() > 5  # a random model: changed
    # The crop's border row is unchanged too: the mask is 0 there, so no seam.
    assert np.array_equal(before[top, left:right], after[top, left:right])


def test_restoration_is_reproducible(restorers, restored):
    again, _ = restorers.restore(astronaut(), "RestoreFormer")
    assert np.array_equal(np.asarray(again), np.asarray(restored[0]))


def test_visibility_zero_changes_nothing_and_runs_no_model():
    def never(face):
        raise AssertionError("the model ran")

    picture = astronaut()
    out, regions = restore_faces(picture, never, FaceDetector(), visibility=0.0)
    assert out is picture and regions == []


def test_visibility_blends_the_restored_face_with_the_original():
    black = lambda face: np.zeros_like(face)  # noqa: E731 (a restorer whose output is easy to predict)
    picture = astronaut()
    half, regions = restore_faces(picture, black, FaceDetector(), visibility=0.5)
    full, _ = restore_faces(picture, black, FaceDetector(), visibility=1.0)
    left, top, right, bottom = regions[0].crop
    y, x = (top + bottom) // 2, (left + right) // 2  # the crop's centre: mask 1
    original = np.asarray(picture)[y, x].astype(int)
    assert np.array_equal(np.asarray(full)[y, x], [0, 0, 0])
    assert np.abs(np.asarray(half)[y, x].astype(int) - original / 2).max() <= 1


def test_a_face_at_the_edge_is_restored_without_error():
    shifted = Image.new("RGB", (360, 360))
    shifted.paste(astronaut(), (-150, -55))  # the face 25 pixels from the left, 15 from the top
    out, regions = restore_faces(shifted, lambda face: 255 - face, FaceDetector())
    assert regions[0].face.overlap(FaceBox(25, 15, 93, 93)) > 0.7  # the largest first
    left, top, _, _ = regions[0].crop
    assert left < 0 and top < 0  # the crop reaches past the picture: padded for the model, clipped on return
    assert out.size == shifted.size
    assert not np.array_equal(np.asarray(out)[40:60, 40:60], np.asarray(shifted)[40:60, 40:60])


def test_the_feathered_mask_is_zero_on_the_border_and_one_inside():
    mask = feather_mask(200)
    assert mask[0].max() == 0 and mask[:, -1].max() == 0
    assert mask[100, 100] == 1.0
    crop = crop_region(FACE)
    assert crop[2] - crop[0] == crop[3] - crop[1]  # square, as the models expect


def test_the_restorer_list_and_the_message_naming_the_missing_file(restorers, models):
    assert available_restorers(restorers) == [{"name": "RestoreFormer", "cmd_dir": str(models / "GFPGAN")}]
    with pytest.raises(FaceRestoreError) as err:
        restorers.check("CodeFormer")
    message = str(err.value)
    assert str(models / "Codeformer") in message and "codeformer-v0.1.0.pth" in message
    assert "RestoreFormer" in message  # the one that is here is suggested
    with pytest.raises(FaceRestoreError, match="GFPGANv1.4.pth"):
        restorers.check("GFPGAN")
    with pytest.raises(FaceRestoreError, match="Choose one of: CodeFormer, GFPGAN, RestoreFormer"):
        restorers.check("Gfpgan-XL")


def test_a_request_asking_for_a_missing_restorer_fails_before_it_runs(restorers):
    with pytest.raises(RequestError, match="codeformer-v0.1.0.pth"):
        check_request(GenerationRequest(restore_faces=True, face_restorer="CodeFormer"), restorers)
    with pytest.raises(RequestError, match="between 0 and 1"):
        check_request(GenerationRequest(restore_faces=True, face_restorer="RestoreFormer", codeformer_weight=2),
                      restorers)
    ok = check_request(GenerationRequest(restore_faces=True, face_restorer="restoreformer"), restorers)
    assert ok.face_restorer == "RestoreFormer"
    assert check_request(GenerationRequest(face_restorer="nothing here"), restorers).face_restorer == "nothing here"


def test_a_file_added_after_start_is_found_without_a_restart(tmp_path):
    faces = FaceRestorers(tmp_path / "GFPGAN", tmp_path / "Codeformer", CPU)
    faces.refresh()
    with pytest.raises(FaceRestoreError):
        faces.check("RestoreFormer")
    save_tiny_restoreformer(tmp_path / "GFPGAN", "RestoreFormer.safetensors")
    assert faces.check("RestoreFormer") == "RestoreFormer"


def test_a_codeformer_file_says_what_it_needs(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "Codeformer"
    folder.mkdir()
    keys = ("position_emb", "idx_pred_layer.1.weight", "quantize.embedding.weight",
            "ft_layers.0.self_attn.in_proj_weight", "encoder.blocks.0.weight")
    save_file({key: torch.zeros(2, 2) for key in keys}, str(folder / "codeformer-v0.1.0.safetensors"))
    (folder / "notes.pth").write_bytes(b"not weights")
    faces = FaceRestorers(tmp_path / "GFPGAN", folder, CPU)
    faces.refresh()
    if extra_arches_installed():
        assert faces.check("CodeFormer") == "CodeFormer"
        return
    with pytest.raises(FaceRestoreError) as err:
        faces.check("CodeFormer")
    assert "spandrel_extra_arches" in str(err.value) and "S-Lab" in str(err.value)


def test_a_file_in_torchs_legacy_format_is_found_too(tmp_path):
    from tests.fixtures.faces import tiny_restoreformer

    (tmp_path / "GFPGAN").mkdir()
    torch.save({"params": tiny_restoreformer().state_dict()}, tmp_path / "GFPGAN" / "RestoreFormer.pth",
               _use_new_zipfile_serialization=False)  # as files saved before torch 1.6 are
    faces = FaceRestorers(tmp_path / "GFPGAN", tmp_path / "Codeformer", CPU)
    faces.refresh()
    assert faces.check("RestoreFormer") == "RestoreFormer"


@pytest.mark.slow
def test_a_full_size_random_gfpgan_restores_the_face_reproducibly(tmp_path):
    """GFPGAN cannot be built small (spandrel reads no sizes from its weights): 86 M parameters, ~20 s."""
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    model = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                   num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    (tmp_path / "GFPGAN").mkdir()
    torch.save({"params_ema": model.state_dict()}, tmp_path / "GFPGAN" / "GFPGANv1.4.pth")
    del model
    faces = FaceRestorers(tmp_path / "GFPGAN", tmp_path / "Codeformer", CPU)
    faces.refresh()
    first, regions = faces.restore(astronaut(), "GFPGAN", 0.8)
    second, _ = faces.restore(astronaut(), "GFPGAN", 0.8)
    assert len(regions) == 1 and np.array_equal(np.asarray(first), np.asarray(second))  # stored noise, not fresh
    left, top, right, bottom = regions[0].inside(512, 512)
    before, after = np.asarray(astronaut()), np.asarray(first)
    assert np.array_equal(before[bottom:], after[bottom:])
    assert not np.array_equal(before[top:bottom, left:right], after[top:bottom, left:right])
