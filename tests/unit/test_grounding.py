"""Token grounding for the demo model's training: which caption words belong to the object, the loss on
attention maps, and the recorder that must not change what the UNet computes."""

from __future__ import annotations

import pytest
import torch

from training import shapes
from training.tokenizer import write_clip_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    folder = tmp_path_factory.mktemp("tok")
    write_clip_tokenizer(folder, shapes.caption_vocabulary())
    return CLIPTokenizer.from_pretrained(folder)


def named(tokenizer, caption, region):
    ids = tokenizer([caption]).input_ids[0]
    return [(tokenizer.convert_ids_to_tokens(ids[i]).removesuffix("</w>"), inside) for i, inside in sorted(region.items())]


def test_words_are_the_objects_except_the_background_colour(tokenizer):
    from training.grounding import word_regions

    captions = ["a large red circle on a blue background, on the left", "a white star on a white background",
                "a gray background", ""]
    regions = word_regions(tokenizer, captions)
    assert named(tokenizer, captions[0], regions[0]) == [("large", True), ("red", True), ("circle", True),
                                                         ("blue", False), ("left", True)]
    assert named(tokenizer, captions[1], regions[1]) == [("white", True), ("star", True), ("white", False)]
    assert named(tokenizer, captions[2], regions[2]) == [("gray", False)]
    assert regions[3] == {}


def test_loss_is_low_when_words_attend_to_their_region():
    from training.grounding import grounding_loss

    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :4] = 1.0  # object in the top-left quarter
    on_object = torch.zeros(1, 16, 3)  # a 4x4 map, 3 tokens
    on_object[0, [0, 1, 4, 5], 1] = 1.0  # token 1 looks at the object's pixels
    on_object[0, [10, 11, 14, 15], 2] = 1.0  # token 2 at background pixels
    good = grounding_loss([on_object], mask, [{1: True, 2: False}])
    swapped = grounding_loss([on_object], mask, [{1: False, 2: True}])
    assert good.item() == pytest.approx(0.0) and swapped.item() == pytest.approx(1.0)
    assert grounding_loss([on_object], mask, [{}]).item() == 0.0


def test_recorder_keeps_maps_and_changes_nothing():
    from training.demo_model import TINY, build_unet
    from training.grounding import recording

    torch.manual_seed(0)
    unet = build_unet(TINY).eval()
    sample = torch.randn(2, 4, TINY.latent_size, TINY.latent_size)
    text = torch.randn(2, 77, unet.config.cross_attention_dim)
    with torch.no_grad():
        plain = unet(sample, torch.tensor([500, 500]), text).sample
        with recording(unet) as maps:
            recorded = unet(sample, torch.tensor([500, 500]), text).sample
    assert torch.allclose(plain, recorded, atol=1e-5)
    assert maps and all(m.shape[0] == 2 and m.shape[2] == 77 for m in maps)
    assert all(torch.allclose(m.sum(dim=2), torch.ones(())) for m in maps)  # rows of attention sum to 1
    assert not any("Recorder" in type(p).__name__ for p in unet.attn_processors.values())  # put back


def test_share_loss_asks_for_a_large_share_not_only_the_right_place():
    from training.grounding import grounding_loss, share_loss

    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :4] = 1.0
    faint = torch.full((1, 16, 3), 0.49)
    faint[0, :, 1] = 0.0
    faint[0, [0, 1, 4, 5], 1] = 0.02  # token 1: only on the object, perfectly placed, but 2%: barely heard
    strong = faint.clone()
    strong[0, [0, 1, 4, 5], 1] = 0.9
    regions = [{1: True}]
    assert grounding_loss([faint], mask, regions).item() == pytest.approx(0.0)
    assert share_loss([faint], mask, regions).item() == pytest.approx(0.98)
    assert share_loss([strong], mask, regions).item() == pytest.approx(0.1)
