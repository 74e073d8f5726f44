"""The offline tools in tools/ (run as scripts: `python tools/<name>.py`) start, and read a header's byte array."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_a_header_byte_array_is_read_back_without_its_trailing_nuls():
    sys.path.insert(0, str(TOOLS))
    try:
        from c_arrays import decode_c_array
    finally:
        sys.path.remove(str(TOOLS))
    text = '{"a": 1}'.encode()
    header = ("static const unsigned char other[] = {0x41};\n"
              "static const unsigned char wanted_str[] = {" + ", ".join(f"0x{b:02x}" for b in text) + ", 0x00};\n")
    assert decode_c_array(header, "wanted_str") == text
    assert decode_c_array(header, "other") == b"A"


@pytest.mark.parametrize("script", ["make_t5_tokenizer.py", "make_qwen_tokenizer.py", "make_clip_tokenizer.py"])
def test_the_tokenizer_tools_start_as_scripts(script):
    done = subprocess.run([sys.executable, str(TOOLS / script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
