"""Read a byte array that a C/C++ header embeds (`static const unsigned char name[] = {0x7b, 0x22, ...};`).

stable-diffusion.cpp vendors tokenizers this way; make_t5_tokenizer.py and make_qwen_tokenizer.py rebuild ours from
them. Run those as scripts (`python tools/<name>.py`): this folder is then on the import path.
"""

from __future__ import annotations

import re


def decode_c_array(header: str, name: str) -> bytes:
    """The bytes of the array called `name` in a header's text, its trailing NULs dropped."""
    start = header.index(name)
    body = header[header.index("{", start) + 1:header.index("}", start)]
    return bytes(int(value, 16) for value in re.findall(r"0x[0-9a-fA-F]{2}", body)).rstrip(b"\0")
