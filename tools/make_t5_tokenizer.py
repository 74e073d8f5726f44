"""Write the T5 tokenizer (tokenizer.json and its config) that a Flux T5-XXL text-encoder file needs.

Why this script exists: `t5xxl_fp16.safetensors` and its fp8 copies carry no tokenizer, and this app must load
them with no internet, so the tokenizer lives in the repository (`configs/flux/tokenizer_2/`). T5's vocabulary
(Google's, Apache 2.0) ships on PyPI inside the source distribution of `stable-diffusion-cpp-python` (MIT,
vendoring leejet's stable-diffusion.cpp), as the byte array `t5_tokenizer_json_str` in
`vendor/stable-diffusion.cpp/src/tokenizers/vocab/clip_t5.hpp`: a Hugging Face `tokenizer.json` (Unigram, 32,100
pieces, the 100 `<extra_id_N>` included). This script decodes that array once; the output is committed, so nothing
depends on that package at run time.

Usage:
    pip download stable-diffusion-cpp-python==0.4.7 --no-deps --no-binary :all: -d /tmp/sdcpp
    tar xzf /tmp/sdcpp/stable_diffusion_cpp_python-0.4.7.tar.gz -C /tmp/sdcpp
    python tools/make_t5_tokenizer.py \
        /tmp/sdcpp/stable_diffusion_cpp_python-0.4.7/vendor/stable-diffusion.cpp/src/tokenizers/vocab/clip_t5.hpp
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from c_arrays import decode_c_array

OUT = Path(__file__).resolve().parent.parent / "modules" / "engine" / "models" / "configs" / "flux" / "tokenizer_2"
ARRAY = "t5_tokenizer_json_str"
# What FluxPipeline's tokenizer_2 is: T5's fast tokenizer; the pipeline pads and truncates to 512 itself.
CONFIG = {"tokenizer_class": "T5Tokenizer", "model_max_length": 512, "eos_token": "</s>", "pad_token": "<pad>",
          "unk_token": "<unk>", "extra_ids": 100, "legacy": True}


def decode(header: str) -> bytes:
    return decode_c_array(header, ARRAY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("header", type=Path, help="stable-diffusion.cpp's clip_t5.hpp")
    args = parser.parse_args()
    tokenizer = json.loads(decode(args.header.read_text(encoding="utf-8")))
    if tokenizer["model"]["type"] != "Unigram" or len(tokenizer["model"]["vocab"]) != 32100:
        raise SystemExit(f"{args.header} does not hold T5's 32,100-piece Unigram tokenizer")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, separators=(",", ":")),
                                        encoding="utf-8")
    (OUT / "tokenizer_config.json").write_text(json.dumps(CONFIG, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
