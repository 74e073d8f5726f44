"""Score a demo checkpoint: held-out captions x seeds through the app's own core, scored automatically.

    python -m training.evaluate --models-dir models --checkpoint demo-shapes [--ground-truth]

`--ground-truth` scores the renderer's own pictures of the same scenes: it must be ~100%, or the
scorer (not the model) is what the numbers measure.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

from training import shapes
from training.scoring import ASPECTS, score

TARGETS = {"background": 0.95, "colour": 0.85, "shape": 0.60, "position": 0.60, "size": 0.80}


def evaluate_ground_truth(count: int, seeds: int, size: int) -> dict[str, float]:
    totals = dict.fromkeys(ASPECTS, 0)
    scenes = shapes.held_out_scenes(count)
    for scene in scenes:
        for seed in range(seeds):
            sample = shapes.render(scene, size, random.Random(seed))
            for aspect, ok in score(sample.image, scene).items():
                totals[aspect] += ok
    return {a: totals[a] / (len(scenes) * seeds) for a in ASPECTS}


def evaluate_model(models_dir: Path, checkpoint: str, count: int, seeds: int, overrides: dict,
                   save_dir: Path | None = None, precision: str = "auto") -> dict:
    import torch

    from modules.core.requests import GenerationRequest
    from modules.engine.devices import choose_device
    from modules.engine.generation import generate
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry

    device = choose_device("auto", precision)
    manager = ModelManager(checkpoints_dir=models_dir / "Stable-diffusion", vae_dir=models_dir / "VAE",
                           cache_file=Path("/tmp/sdwebui-eval-cache.json"), device=device, models_in_ram=1)
    manager.refresh()
    info = manager.resolve(checkpoint)
    defaults_file = info.path / "webui-defaults.json"
    defaults = json.loads(defaults_file.read_text()) if defaults_file.is_file() else {}
    settings = {k: defaults[k] for k in ("sampler", "steps", "cfg_scale", "width", "height") if k in defaults}
    settings.update(overrides)
    samplers = SamplerRegistry.default()
    base = replace(GenerationRequest(checkpoint=checkpoint), **settings)
    generate(replace(base, prompt="warm up", seed=0), manager, samplers)
    totals = dict.fromkeys(ASPECTS, 0)
    times = []
    scenes = shapes.held_out_scenes(count)
    for n, scene in enumerate(scenes):
        for seed in range(seeds):
            started = time.perf_counter()
            result = generate(replace(base, prompt=scene.caption(), seed=1000 + seed), manager, samplers)
            times.append(time.perf_counter() - started)
            image = result.images[0]
            verdict = score(image, scene)
            for aspect, ok in verdict.items():
                totals[aspect] += ok
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                image.save(save_dir / f"{n:02d}-{seed}-{'_'.join(scene.key())}.png")
    total = len(scenes) * seeds
    return {
        "checkpoint": checkpoint,
        "settings": settings,
        "device": f"{device.device} {str(device.dtype).replace('torch.', '')}, {torch.get_num_threads()} threads",
        "pictures": total,
        "scores": {a: totals[a] / total for a in ASPECTS},
        "seconds_per_picture_median": statistics.median(times),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--checkpoint", default="demo-shapes")
    parser.add_argument("--captions", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--ground-truth", action="store_true")
    parser.add_argument("--sampler")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--cfg-scale", type=float)
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16 or bf16 (as the app's --precision)")
    parser.add_argument("--save-dir", type=Path, help="also save every generated picture here")
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.ground_truth:
        report = {"ground_truth": evaluate_ground_truth(args.captions, args.seeds, 48)}
    else:
        overrides = {k: v for k, v in (("sampler", args.sampler), ("steps", args.steps),
                                       ("cfg_scale", args.cfg_scale)) if v is not None}
        report = evaluate_model(args.models_dir, args.checkpoint, args.captions, args.seeds, overrides, args.save_dir,
                                args.precision)
    scores = report.get("scores") or report["ground_truth"]
    for aspect in ASPECTS:
        mark = "ok" if scores[aspect] >= TARGETS[aspect] else "below target"
        print(f"{aspect:11s} {scores[aspect] * 100:5.1f}%  (target {TARGETS[aspect] * 100:.0f}%: {mark})")
    if "seconds_per_picture_median" in report:
        print(f"median time per picture: {report['seconds_per_picture_median']:.2f} s ({report['device']})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
