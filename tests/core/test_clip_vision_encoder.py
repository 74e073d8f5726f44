"""The one owner of CLIP vision encoders: find-similar's embedder and IP-Adapter's path load and run the same file
the same way (image_embeddings), the encoder loads on first use only, once, and a broken file is refused there."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine import image_embeddings
from modules.engine.picture_embedders import ClipVisionEmbedder


@pytest.fixture
def tiny_encoder(tmp_path) -> image_embeddings.ClipVisionInfo:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, projection_dim=16, num_hidden_layers=2,
                              num_attention_heads=4, image_size=32, patch_size=8)
    CLIPVisionModelWithProjection(config).save_pretrained(tmp_path / "clip_vision" / "tiny")
    (info,) = image_embeddings.scan(tmp_path / "clip_vision")
    return info


def _picture(colour: str) -> Image.Image:
    return Image.new("RGB", (40, 40), colour)


def test_find_similar_vectors_are_the_encoders_own_embeddings_as_ip_adapter_reads_them(tiny_encoder):
    embedder = ClipVisionEmbedder(tiny_encoder)
    assert not embedder.encoder.loaded  # nothing loads until a picture is embedded
    vector = np.frombuffer(embedder.embed(_picture("red")), np.float32)
    assert embedder.encoder.loaded
    model = image_embeddings.load(tiny_encoder, torch.float32, torch.device("cpu"))  # as the model manager does
    direct = image_embeddings.encode(model, [_picture("red")])[0].numpy()
    assert np.allclose(vector, direct / np.linalg.norm(direct), atol=1e-5)
    hidden = embedder.encoder.hidden_states([_picture("red")])
    assert torch.allclose(hidden, image_embeddings.encode(model, [_picture("red")], hidden_states=True), atol=1e-5)


def test_the_encoder_loads_once_when_threads_ask_together(tiny_encoder, monkeypatch):
    calls = []
    real = image_embeddings.load
    monkeypatch.setattr(image_embeddings, "load", lambda *a, **k: calls.append(1) or real(*a, **k))
    encoder = image_embeddings.ClipVisionEncoder(tiny_encoder)
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: encoder.model(), range(4)))
    assert len(calls) == 1 and all(m is models[0] for m in models)
    assert encoder.dtype == torch.float32  # on the CPU


def test_an_unusable_encoder_file_is_refused_with_its_reason(tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (info,) = image_embeddings.scan(tmp_path)
    with pytest.raises(image_embeddings.ClipVisionError, match="broken.safetensors cannot be used"):
        image_embeddings.ClipVisionEncoder(info)
