"""Prompt -> embeddings as A1111 makes them, on a tiny random CLIP text encoder."""

from __future__ import annotations

import pytest
import torch

from modules.engine.conditioning import (
    CHUNK_LENGTH,
    PromptChunk,
    build_chunks,
    conditioning_at,
    encode_pair,
    encode_prompt,
    encode_prompt_sdxl,
    encode_schedule,
    prompt_chunks,
)
from training.tokenizer import write_clip_tokenizer

WORDS = ["a", "cat", "dog", "sat", "on", "the", "mat", "red", "house", "hill", "sun", "sky", "painting"]


def tiny_text_encoder(vocab_size: int, seed: int, *, with_projection: bool = False, width: int = 32):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                            num_attention_heads=2, vocab_size=vocab_size, max_position_embeddings=77,
                            projection_dim=width, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
                            pad_token_id=vocab_size - 1)
    torch.manual_seed(seed)
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config).eval()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    write_clip_tokenizer(folder, WORDS)
    return CLIPTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def pipe(tokenizer):
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from training.demo_model import NOISE_SCHEDULE, TINY, build_unet, build_vae

    torch.manual_seed(0)
    return StableDiffusionPipeline(
        vae=build_vae(TINY), text_encoder=tiny_text_encoder(len(tokenizer), 0), tokenizer=tokenizer,
        unet=build_unet(TINY), scheduler=EulerDiscreteScheduler(**NOISE_SCHEDULE), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)


def diffusers_embeds(pipe, prompt: str) -> torch.Tensor:
    """diffusers' own encoding. (Its clip_skip is not compared: with transformers 5 it looks for
    `text_encoder.text_model`, which CLIPTextModel no longer has, and raises.)"""
    with torch.no_grad():
        embeds, _ = pipe.encode_prompt(prompt, "cpu", 1, False)
    return embeds


def chunk(embeds: torch.Tensor, i: int) -> torch.Tensor:
    return embeds[:, 77 * i:77 * (i + 1)]


@pytest.mark.parametrize("prompt", ["a cat sat on the mat", "", "a red house, on a hill, sun"])
def test_a_plain_prompt_is_exactly_what_diffusers_makes(pipe, prompt):
    ours = encode_prompt(pipe, prompt)
    assert ours.shape == (1, 77, 32)
    assert torch.equal(ours, diffusers_embeds(pipe, prompt))


def test_a_plain_pair_matches_diffusers_cond_and_uncond(pipe):
    cond, uncond = encode_pair(pipe, "a cat sat", "a dog")
    with torch.no_grad():
        ref_cond, ref_uncond = pipe.encode_prompt("a cat sat", "cpu", 1, True, negative_prompt="a dog")
    torch.testing.assert_close(cond, ref_cond, rtol=0, atol=1e-6)
    torch.testing.assert_close(uncond, ref_uncond, rtol=0, atol=1e-6)


def test_a_weight_scales_only_its_token_and_keeps_the_mean(pipe):
    plain = encode_prompt(pipe, "a cat sat on the mat")[0]
    weighted = encode_prompt(pipe, "a (cat:1.5) sat on the mat")[0]
    assert torch.allclose(weighted.mean(), plain.mean(), atol=1e-6)
    # Every position keeps its direction; the weighted one (after BOS and "a") grows 1.5x relative to the rest.
    ratio = weighted.norm(dim=-1) / plain.norm(dim=-1)
    assert torch.allclose(torch.cosine_similarity(weighted, plain, dim=-1), torch.ones(77), atol=1e-5)
    others = torch.cat([ratio[:2], ratio[3:]])
    assert torch.allclose(others, others[0].expand_as(others), atol=1e-5)
    assert ratio[2] / others[0] == pytest.approx(1.5, rel=1e-5)
    assert not torch.allclose(others[0], torch.tensor(1.0))  # the mean restore rescaled everything


def test_brackets_weigh_like_explicit_weights(pipe):
    torch.testing.assert_close(encode_prompt(pipe, "a ((cat)) sat"), encode_prompt(pipe, "a (cat:1.21) sat"))
    torch.testing.assert_close(encode_prompt(pipe, "a [cat] sat"), encode_prompt(pipe, f"a (cat:{1 / 1.1}) sat"))


def test_more_than_75_tokens_make_a_second_chunk(pipe):
    prompt = " ".join(["cat"] * 80)
    embeds = encode_prompt(pipe, prompt)
    assert embeds.shape == (1, 154, 32)
    assert torch.equal(chunk(embeds, 0), diffusers_embeds(pipe, prompt))  # diffusers keeps only the first 75
    assert torch.equal(chunk(embeds, 1), diffusers_embeds(pipe, " ".join(["cat"] * 5)))


def test_break_starts_a_new_chunk(pipe):
    embeds = encode_prompt(pipe, "a cat BREAK a dog")
    assert embeds.shape == (1, 154, 32)
    assert torch.equal(chunk(embeds, 0), diffusers_embeds(pipe, "a cat"))
    assert torch.equal(chunk(embeds, 1), diffusers_embeds(pipe, "a dog"))
    # Two BREAKs in a row leave an empty chunk between them, as in A1111.
    assert encode_prompt(pipe, "a cat BREAK BREAK a dog").shape == (1, 231, 32)


def test_a_long_chunk_breaks_after_its_last_comma(tokenizer):
    chunks = prompt_chunks(tokenizer, " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10))
    cat, dog, comma = (tokenizer.convert_tokens_to_ids(t) for t in ("cat</w>", "dog</w>", ",</w>"))
    assert [len(c.tokens) for c in chunks] == [71, 10]
    assert chunks[0].tokens == [cat] * 70 + [comma] and chunks[1].tokens == [dog] * 10


def test_a_comma_further_back_than_20_tokens_is_not_used():
    chunks = build_chunks([([1] * 50 + [9] + [2] * 40, 1.0)], comma_id=9)
    assert [len(c.tokens) for c in chunks] == [CHUNK_LENGTH, 16]


def test_weights_travel_with_their_tokens_across_chunks():
    chunks = build_chunks([([1] * 74, 1.0), ([2] * 3, 1.3)], comma_id=None)
    assert chunks[0].weights[-1] == 1.3 and chunks[1].weights == [1.3, 1.3]
    assert build_chunks([], comma_id=None) == [PromptChunk()]


def test_clip_skip_2_reads_the_penultimate_layer_through_the_final_norm(pipe):
    ours = encode_prompt(pipe, "a cat sat", clip_skip=2)
    ids = pipe.tokenizer("a cat sat", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
        manual = pipe.text_encoder.final_layer_norm(hidden)  # transformers 5: no .text_model level
    assert torch.equal(ours, manual)
    assert not torch.allclose(ours, encode_prompt(pipe, "a cat sat"))


def test_the_shorter_of_a_pair_is_padded_with_empty_chunks(pipe):
    cond, uncond = encode_pair(pipe, " ".join(["cat"] * 80), "")
    assert cond.shape == uncond.shape == (1, 154, 32)
    empty = diffusers_embeds(pipe, "")
    torch.testing.assert_close(chunk(uncond, 0), empty, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunk(uncond, 1), empty, rtol=0, atol=1e-6)


def test_malformed_prompts_still_encode(pipe):
    for prompt in ["(a cat", "a cat)", "(cat:1.2.3)", "[cat:dog:x]", "\\", "BREAK", "(BREAK)"]:
        assert encode_prompt(pipe, prompt).shape[1] % 77 == 0


def test_a_step_schedule_switches_the_embeddings_the_unet_sees(pipe):
    steps = 4
    schedule = encode_schedule(pipe, "a [cat:dog:2] sat <lora:x:0.5>", "[red:sun:3]", steps)
    assert [(e.end_step, e.prompt, e.negative) for e in schedule] == [
        (2, "a cat sat ", "red"), (3, "a dog sat ", "red"), (4, "a dog sat ", "sun")]
    torch.testing.assert_close(schedule[0].cond, encode_prompt(pipe, "a cat sat "), rtol=0, atol=1e-6)

    seen: list[torch.Tensor] = []
    hook = pipe.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"].clone()), with_kwargs=True)

    def swap(p, step, timestep, tensors):
        return conditioning_at(schedule, step + 1).callback_tensors(1, p.do_classifier_free_guidance)

    try:
        pipe(**schedule[0].pipe_kwargs(1), num_inference_steps=steps, guidance_scale=5.0, height=16, width=16,
             generator=torch.Generator().manual_seed(0), output_type="latent",
             callback_on_step_end=swap, callback_on_step_end_tensor_inputs=["prompt_embeds"])
    finally:
        hook.remove()
    # A1111's lookup for 0-based steps 0..3 with spans ending at 2, 3, 4: entries 0, 0, 0, 1.
    expected = [conditioning_at(schedule, s) for s in range(steps)]
    assert [e.end_step for e in expected] == [2, 2, 2, 3]
    for used, entry in zip(seen, expected, strict=True):
        assert torch.equal(used, torch.cat([entry.uncond, entry.cond]))


# ---------------------------------------------------------------------------------------------- SDXL


@pytest.fixture(scope="module")
def sdxl_pipe(tokenizer):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=4, projection_class_embeddings_input_dim=24 + 6 * 4, cross_attention_dim=56,
        norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), latent_channels=4, norm_num_groups=8)
    return StableDiffusionXLPipeline(
        vae=vae, unet=unet, scheduler=EulerDiscreteScheduler(),
        text_encoder=tiny_text_encoder(len(tokenizer), 1), tokenizer=tokenizer,
        text_encoder_2=tiny_text_encoder(len(tokenizer), 2, with_projection=True, width=24), tokenizer_2=tokenizer)


def test_sdxl_plain_prompt_is_exactly_what_diffusers_makes(sdxl_pipe):
    embeds, pooled = encode_prompt_sdxl(sdxl_pipe, "a cat sat on the mat")
    with torch.no_grad():
        ref, _, ref_pooled, _ = sdxl_pipe.encode_prompt("a cat sat on the mat", device="cpu",
                                                         do_classifier_free_guidance=False)
    assert embeds.shape == (1, 77, 32 + 24) and pooled.shape == (1, 24)
    assert torch.equal(embeds, ref) and torch.equal(pooled, ref_pooled)


def test_sdxl_chunks_weights_and_pooled_from_the_first_chunk(sdxl_pipe):
    plain, pooled = encode_prompt_sdxl(sdxl_pipe, "a cat sat")
    long, long_pooled = encode_prompt_sdxl(sdxl_pipe, "a cat sat BREAK a dog")
    assert long.shape == (1, 154, 56)
    torch.testing.assert_close(chunk(long, 0), plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(long_pooled, pooled, rtol=0, atol=1e-6)
    weighted, weighted_pooled = encode_prompt_sdxl(sdxl_pipe, "a (cat:1.4) sat")
    assert torch.equal(weighted_pooled, pooled)  # the pooled vector is never weighted
    for part in (slice(0, 32), slice(32, 56)):  # each encoder keeps its own mean
        assert torch.allclose(weighted[..., part].mean(), plain[..., part].mean(), atol=1e-6)


def test_sdxl_empty_negative_is_zeros_as_in_a1111(sdxl_pipe):
    entry = encode_schedule(sdxl_pipe, "a cat", "", 4)[0]
    assert not entry.uncond.any() and not entry.negative_pooled.any()
    kwargs = entry.pipe_kwargs(2)
    assert kwargs["prompt_embeds"].shape == (2, 77, 56) and kwargs["pooled_prompt_embeds"].shape == (2, 24)
    assert not encode_schedule(sdxl_pipe, "a cat", "a dog", 4)[0].uncond.eq(0).all()
