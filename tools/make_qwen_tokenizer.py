"""Write Qwen's byte-level BPE tokenizer (vocab.json, merges.txt, tokenizer_config.json) that a Z-Image Qwen3 or a
Qwen-Image Qwen2.5-VL text-encoder file needs.

Why this script exists: `qwen_3_4b.safetensors` and `qwen_2.5_vl_7b*.safetensors` carry no tokenizer, and this app must
load them with no internet, so the tokenizer lives in the repository (`configs/qwen/tokenizer/`). Qwen2, Qwen2.5(-VL)
and Qwen3 share one vocabulary (Apache 2.0): 151,387 merges over the 256 byte symbols, then the special tokens from
151,643 on; Qwen3 appended <tool_response>, </tool_response>, <think>, </think> after Qwen2.5's, so one folder serves
both. The merges ship on PyPI inside the source distribution of `stable-diffusion-cpp-python` (MIT, vendoring
leejet's stable-diffusion.cpp), as the byte array `qwen2_merges_utf8_c_str` in
`vendor/stable-diffusion.cpp/src/tokenizers/vocab/qwen.hpp`; its `qwen2_tokenizer.cpp` rebuilds the vocabulary as
this script does: the byte symbols in GPT-2's `bytes_to_unicode` order, each merge's concatenation in rank order,
then the special tokens. The output is committed, so nothing depends on that package at run time.

Usage:
    pip download stable-diffusion-cpp-python==0.4.7 --no-deps --no-binary :all: -d /tmp/sdcpp
    tar xzf /tmp/sdcpp/stable_diffusion_cpp_python-0.4.7.tar.gz -C /tmp/sdcpp
    python tools/make_qwen_tokenizer.py \
        /tmp/sdcpp/stable_diffusion_cpp_python-0.4.7/vendor/stable-diffusion.cpp/src/tokenizers/vocab/qwen.hpp
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c_arrays import decode_c_array

OUT = Path(__file__).resolve().parent.parent / "modules" / "engine" / "models" / "configs" / "qwen" / "tokenizer"
ARRAY = "qwen2_merges_utf8_c_str"
MERGES = 151387
# Qwen3's added tokens from id 151643, in order; the first 14 are special (never split, skipped when decoding
# with skip_special_tokens), the rest plain added tokens, as Qwen's own tokenizer_config.json marks them.
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
           "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
ADDED = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
         "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>")
FIRST_ADDED = 151643
# Qwen3's chat template, reduced to what a text-to-image prompt uses (system and user turns, the generation prompt,
# the empty thought Qwen3 writes when thinking is off); for those it renders exactly as Qwen's own template.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}")


def bytes_to_unicode() -> list[str]:
    """GPT-2's byte symbols, in the order that gives them ids 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(161, 173), *range(174, 256)]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(rest))]


def decode(header: str) -> str:
    return decode_c_array(header, ARRAY).decode("utf-8")


def build(merges_text: str) -> tuple[dict[str, int], list[str], dict]:
    merges = [line for line in merges_text.split("\n") if line]
    if len(merges) != MERGES or any(line.count(" ") != 1 for line in merges):
        raise SystemExit(f"expected Qwen2's {MERGES:,} merges of two symbols, found {len(merges):,}")
    tokens = bytes_to_unicode() + [line.replace(" ", "") for line in merges]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens) or len(tokens) != FIRST_ADDED:
        raise SystemExit("the merges do not rebuild Qwen2's 151,643 distinct tokens")
    decoder = {str(FIRST_ADDED + i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": t in SPECIAL}
               for i, t in enumerate(SPECIAL + ADDED)}
    config = {"tokenizer_class": "Qwen2Tokenizer", "added_tokens_decoder": decoder,
              "additional_special_tokens": list(SPECIAL[1:]), "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "unk_token": None, "errors": "replace", "model_max_length": 131072,
              "clean_up_tokenization_spaces": False, "split_special_tokens": False, "chat_template": CHAT_TEMPLATE}
    return vocab, merges, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("header", type=Path, help="stable-diffusion.cpp's qwen.hpp")
    args = parser.parse_args()
    vocab, merges, config = build(decode(args.header.read_text(encoding="utf-8")))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (OUT / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (OUT / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
