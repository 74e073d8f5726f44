"""What the engine needs of a model manager, as a Protocol: `ModelManager` implements it, and tests stand in
with an in-memory double (one pipeline built in the test, no files)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modules.engine.models.controlnets import ControlNetInfo
    from modules.engine.models.ipadapters import LoadedIPAdapter
    from modules.engine.models.loras import LoraInfo
    from modules.engine.models.manager import LoadedModel
    from modules.engine.models.registry import CheckpointInfo


class ModelSource(Protocol):
    def use(self, checkpoint: str | None, vae: str = ...,
            loras: list[tuple[LoraInfo, float, float]] | tuple = ...,
            modules: tuple[str, ...] = ...) -> AbstractContextManager[LoadedModel]:
        """Lend the checkpoint's pipeline for one job, with the job's VAE, LoRAs and (for a Flux transformer file)
        text-encoder and VAE files applied."""
        ...

    def resolve(self, query: str | None) -> CheckpointInfo:
        """A checkpoint by name, title or hash; LookupError naming what exists when none matches."""
        ...

    def find_lora(self, name: str) -> LoraInfo | None: ...

    def lora_hash(self, info: LoraInfo) -> str: ...

    def use_embeddings(self, loaded: LoadedModel, text: str) -> tuple[list[tuple[str, str]], list[str]]:
        """Load the embeddings named in `text` into the checkpoint: ((name, short hash) used, notes)."""
        ...

    def find_controlnet(self, name: str) -> ControlNetInfo: ...

    def controlnet(self, name: str, checkpoint: CheckpointInfo) -> Any: ...

    def ip_adapter(self, name: str, module: str, checkpoint: CheckpointInfo) -> LoadedIPAdapter:
        """An IP-Adapter unit's adapter and CLIP vision encoder, loaded; refused with the reason."""
        ...
