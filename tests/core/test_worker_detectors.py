"""ADetailer on a generation worker (the class Ray runs, built here in-process): the worker reads detection models
from the models/adetailer folder it is given, as the head does, and a job naming one runs with it there."""

from __future__ import annotations

import shutil

import torch

from modules.core.detailer import BUILTIN_FACE, DetailerUnit
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine.worker import GenerationWorker, WorkerConfig


def test_a_worker_lists_and_uses_the_cascades_in_its_adetailer_folder(tiny_models_dir, samplers, tmp_path):
    from skimage.data import lbp_frontal_face_cascade_filename

    folder = tmp_path / "adetailer"
    folder.mkdir()
    shutil.copy(lbp_frontal_face_cascade_filename(), folder / "my_faces.xml")
    worker = GenerationWorker(WorkerConfig(name="w1", checkpoints_dir=tiny_models_dir / "Stable-diffusion",
                                           vae_dir=tiny_models_dir / "VAE", cache_file=tmp_path / "models.json",
                                           adetailer_dir=folder, device="cpu", precision="fp32"))
    assert worker.detectors.names() == [BUILTIN_FACE, "my_faces.xml"]
    request = validate(GenerationRequest(prompt="a red circle", width=32, height=32, steps=2, seed=3,
                                         sampler="Euler", checkpoint="tiny-a",
                                         detailer=(DetailerUnit(model="my_faces.xml"),)), samplers=samplers)
    with torch.no_grad():
        result = worker.run("job-1", request, 0, {})
    # A tiny random model draws no face: the cascade ran and said so (an unknown model would have failed the job).
    assert any("ADetailer unit 1 (my_faces.xml): nothing was found" in note for note in result.warnings), \
        result.warnings
