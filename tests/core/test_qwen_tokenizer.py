"""The Qwen tokenizer shipped in configs/qwen/tokenizer (tools/make_qwen_tokenizer.py) gives the ids of Qwen's own.

Every expected id below was read in public code that ran the real Qwen2 / Qwen2.5 / Qwen3 tokenizer, never guessed:
- "<|im_start|>hello<|im_end|>" -> [151644, 14990, 151645]: alibaba/rtp-llm,
  rtp_llm/test/tokenizer_test/qwen2_tokenizer_test.py.
- the "You are a helpful assistant." system turn and the user header -> [151644, 8948, 198, 2610, 525, 264, 10950,
  17847, 13, 151645, 198, 151644, 872, 198]: huggingface/transformers,
  tests/models/qwen2_audio/test_modeling_qwen2_audio.py (EXPECTED_INPUT_IDS; Qwen2-Audio keeps Qwen2's vocabulary).
- "Hello world" -> [9707, 1879], "Hello, world! 123" -> [9707, 11, 1879, 0, 220, 16, 17, 18], "你好世界" ->
  [108386, 99489], "assistant\\n" -> [77091, 198]: tokenizer checks against llama.cpp and Qwen2.5 / Qwen3 probes in
  public code (found with the code search of this project's tools).
- <think> = 151667, </think> = 151668 (Qwen3's additions), <|endoftext|> = 151643: stable-diffusion.cpp's
  qwen2_tokenizer.cpp special-token list, the ids following Qwen2's 151,643 merged tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "modules" / "engine" / "models" / "configs" / "qwen" / "tokenizer"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(FOLDER), local_files_only=True)


@pytest.mark.parametrize("text, ids", [
    ("<|im_start|>hello<|im_end|>", [151644, 14990, 151645]),
    ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
     [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]),
    ("Hello world", [9707, 1879]),
    ("Hello, world! 123", [9707, 11, 1879, 0, 220, 16, 17, 18]),
    ("你好世界", [108386, 99489]),
    ("assistant\n", [77091, 198]),
])
def test_the_shipped_tokenizer_gives_qwens_ids(tokenizer, text, ids):
    assert tokenizer(text).input_ids == ids


def test_the_special_tokens_sit_at_qwen3s_ids_and_pad_is_endoftext(tokenizer):
    assert tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                                            "<|image_pad|>", "<think>", "</think>"]) == [
        151643, 151644, 151645, 151652, 151655, 151667, 151668]
    assert (len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id) == (151669, 151643, 151645)


def test_the_chat_template_renders_z_images_prompt_as_qwen3s_does(tokenizer):
    """ZImagePipeline applies the chat template with add_generation_prompt and enable_thinking=True."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": "a cat"}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=True)
    assert text == "<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n"
    off = tokenizer.apply_chat_template([{"role": "user", "content": "a cat"}], tokenize=False,
                                        add_generation_prompt=True, enable_thinking=False)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_the_slow_and_fast_classes_load_the_folder_alike():
    from transformers import Qwen2Tokenizer

    slow = Qwen2Tokenizer.from_pretrained(str(FOLDER), local_files_only=True)
    assert slow("Hello world<|im_end|>").input_ids == [9707, 1879, 151645]
