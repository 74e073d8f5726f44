"""Train a small CLIP BPE vocabulary over a word list and write it as CLIPTokenizer files.

The demo model cannot afford CLIP's 49,408-entry embedding table, so it gets its own BPE vocabulary in
CLIP's exact file format: any text still tokenises (the 256 byte symbols are always there), and the words
of the captions become single tokens. Loaded by transformers' CLIPTokenizer like any SD tokenizer.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) byte -> printable character table: printable bytes map to themselves, the
    rest to code points from 256 up, so every byte string is a string of visible symbols."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return dict(sorted(table.items()))

END = "</w>"
SPECIAL = ("<|startoftext|>", "<|endoftext|>")


def _word_symbols(word: str) -> tuple[str, ...]:
    byte_encoder = bytes_to_unicode()
    chars = [byte_encoder[b] for b in word.encode("utf-8")]
    return tuple(chars[:-1]) + (chars[-1] + END,)


def train_bpe(words: list[str], extra_merges: int = 0) -> list[tuple[str, str]]:
    """Classic BPE: merge the most frequent adjacent pair until every word is one symbol."""
    corpus = Counter(_word_symbols(w.lower()) for w in words)
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, freq in corpus.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += freq
        if not pairs:
            return merges
        # Ties broken by the pair itself so the vocabulary is the same on every run.
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        new_corpus: Counter[tuple[str, ...]] = Counter()
        for symbols, freq in corpus.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            new_corpus[tuple(out)] += freq
        corpus = new_corpus


def write_clip_tokenizer(folder: Path, words: list[str], *, pad_token: str = "<|endoftext|>") -> int:
    """Write vocab.json, merges.txt and the tokenizer configs; returns the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    merges = train_bpe(words)
    byte_symbols = list(bytes_to_unicode().values())
    vocab_list = byte_symbols + [s + END for s in byte_symbols]
    for a, b in merges:
        if a + b not in vocab_list:
            vocab_list.append(a + b)
    vocab_list.extend(SPECIAL)
    vocab = {token: i for i, token in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": SPECIAL[0],
        "eos_token": SPECIAL[1],
        "unk_token": SPECIAL[1],
        "pad_token": pad_token,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special_map = {"bos_token": SPECIAL[0], "eos_token": SPECIAL[1], "unk_token": SPECIAL[1], "pad_token": pad_token}
    (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2), encoding="utf-8")
    return len(vocab)
