"""Which reader takes a flow-transformer single file (Flux.1, SD 3.x, Chroma), told from its keys alone.

Each reader (flux_single, sd3_single, chroma_single) has the same shape: `describe(path)` -> facts (label, config,
the parts it carries), `choose_parts(facts, chosen, available, name)` -> the text encoders and VAE by slot,
`folders(candidates)` -> the diffusers folders of its family that may lend configs and tokenizers,
`load_pipeline(path, parts, folders, dtype)`, and `ROLES`, the slots in the order the infotext lists them.
Chroma is asked first: its files have Flux's double and single blocks too.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from modules.engine.models import chroma_single, flux_single, sd3_single
from modules.engine.models.flow_families import flux_keys
from modules.engine.models.module_files import read_header

READERS: dict[str, ModuleType] = {"flux": flux_single, "demo-flux": flux_single, "sd3": sd3_single,
                                  "chroma": chroma_single}
# What a reader raises for a file or parts it cannot use; the message says what to do.
ERRORS = (flux_single.FluxFileError, flux_single.FluxPartsError, sd3_single.Sd3FileError,
          chroma_single.ChromaFileError)


def family_of(path: Path) -> str | None:
    """"flux", "sd3" or "chroma" for a transformer file in its release layout; None for anything else."""
    try:
        shapes, _, _ = read_header(path)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the checkpoint reader
        return None
    keys = list(shapes)
    if chroma_single.is_chroma_keys(keys):
        return "chroma"
    if sd3_single.is_sd3_keys(keys):
        return "sd3"
    if flux_keys(keys) == "bfl":
        return "flux"
    return None


def reader(family: str | None) -> ModuleType | None:
    """The module reading transformer files of this family (None: not one of ours)."""
    return READERS.get(family or "")
