"""Write the CLIP BPE tokenizer files (vocab.json, merges.txt) that our offline model configs use.

Why this script exists: single-file checkpoints carry no tokenizer, and this app must load them with no
internet, so the tokenizer files live in the repository. The exact CLIP vocabulary ships inside the PyPI
package `open_clip_torch` as `open_clip/bpe_simple_vocab_16e6.txt.gz`. This script turns that file into the
Hugging Face layout once; the output is committed, so nothing depends on open_clip at run time.

Usage:
    pip download open_clip_torch --no-deps -d /tmp/oc && unzip -o /tmp/oc/*.whl 'open_clip/*' -d /tmp/oc
    python tools/make_clip_tokenizer.py /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz

Every tokenizer folder of every family gets its own full copy. Why not one shared copy: transformers
silently builds a 3-token tokenizer when a folder has no vocabulary (no error), so a config folder without
it is a trap for any `from_single_file(config=...)` call; and git stores identical files as one blob, so the
copies cost nothing in the repository.

The vocabulary is built exactly as OpenAI's and open_clip's `SimpleTokenizer` do: the 256 byte symbols,
the same symbols with `</w>`, one entry per merge in rank order, then `<|startoftext|>` and
`<|endoftext|>`: 49,408 entries.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "modules" / "engine" / "models" / "configs"
# Tokenizer folder -> its pad token. OpenAI CLIP (SD 1.x, SDXL's first encoder) pads with <|endoftext|>;
# OpenCLIP (SD 2.x, SDXL's second encoder) was trained padding with id 0, which is "!".
TOKENIZER_FOLDERS = {
    "sd1/tokenizer": "<|endoftext|>",
    "sd2/tokenizer": "!",
    "sd2-v/tokenizer": "!",
    "sdxl/tokenizer": "<|endoftext|>",
    "sdxl/tokenizer_2": "!",
}
VOCAB_SIZE = 49408
MERGE_COUNT = 49152 - 256 - 2  # as in CLIP's SimpleTokenizer: 48,894 merges


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable character table (same order as OpenAI's code)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def build(bpe_gz: Path) -> tuple[dict[str, int], list[str]]:
    """Return (vocab, merges) from open_clip's gzipped BPE file."""
    with gzip.open(bpe_gz) as file:
        lines = file.read().decode("utf-8").split("\n")
    merges = lines[1 : MERGE_COUNT + 1]  # the first line is a version header
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise SystemExit(f"expected {VOCAB_SIZE} vocabulary entries, got {len(vocab)}: wrong input file?")
    return vocab, merges


def write_folder(folder: Path, vocab: dict[str, int], merges: list[str], pad_token: str) -> None:
    """Write one Hugging Face CLIPTokenizer folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": pad_token,
        "unk_token": "<|endoftext|>",
    }
    config = {
        "add_prefix_space": False,
        "do_lower_case": True,
        "errors": "replace",
        "model_max_length": 77,
        "tokenizer_class": "CLIPTokenizer",
        **special,
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bpe_gz", type=Path, help="path to open_clip/bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"configs folder (default {DEFAULT_OUT})")
    args = parser.parse_args()
    vocab, merges = build(args.bpe_gz)
    for relative, pad_token in TOKENIZER_FOLDERS.items():
        write_folder(args.out / relative, vocab, merges, pad_token)
        print(f"wrote {len(vocab)} tokens, {len(merges)} merges, pad {pad_token!r} to {args.out / relative}")


if __name__ == "__main__":
    main()
