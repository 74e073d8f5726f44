"""Score the demo family's members through the app's own core, automatically.

    python -m training.evaluate_members inpainting [--models-dir models] [--count 20]
    python -m training.evaluate_members scribble
    python -m training.evaluate_members night
    python -m training.evaluate_members flux-pinkish

inpainting: a picture's object is masked and the prompt asks for another colour; pixels outside the (blurred)
  mask must come back exactly, and the masked object must take the prompt's colour.
scribble:   a scribble of a shape placed anywhere; the generated object's region against the scribble's filled
  region (IoU), both for the training-style map and for a pen drawing on a 384 px white canvas.
night:      held-out captions naming a non-black ground, with the LoRA at weight 1, at 0, and the baked
  checkpoint: is the ground black (the style), and does the object keep the caption's colour.
flux-pinkish: the Flux demo LoRA on held-out captions of objects that are not pink: with the trigger the object
  comes out pink; with the LoRA loaded but no trigger, and without the LoRA, it takes the caption's colour.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training import shapes
from training.members import free_sample, object_mask
from training.scoring import _nearest, read_picture


def _services(models_dir: Path):
    from modules.engine.devices import choose_device
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry

    device = choose_device("auto", "auto")
    manager = ModelManager(checkpoints_dir=models_dir / "Stable-diffusion", vae_dir=models_dir / "VAE",
                           cache_file=Path("/tmp/sdwebui-eval-cache.json"), device=device, models_in_ram=2,
                           controlnet_dir=models_dir / "ControlNet", lora_dir=models_dir / "Lora")
    manager.refresh()
    return manager, SamplerRegistry.default()


def _base_request(size: int):
    from modules.core.requests import GenerationRequest

    return GenerationRequest(sampler="Euler a", steps=20, cfg_scale=5.0, width=size, height=size)


def _run(manager, samplers, request):
    from modules.core.validation import validate
    from modules.engine.generation import generate

    return generate(validate(request, samplers=samplers), manager, samplers)


def evaluate_inpainting(models_dir: Path, count: int, checkpoint: str, save_dir: Path | None) -> dict[str, Any]:
    from modules.engine.imaging import blur_mask

    manager, samplers = _services(models_dir)
    size = 48
    kept = coloured = 0
    for i in range(count):
        rng = random.Random(70_000 + i)
        scene = shapes.random_scene(rng)
        sample = shapes.render(scene, size, rng)
        target = next(c for c in rng.sample(list(shapes.OBJECT_COLOURS), len(shapes.OBJECT_COLOURS))
                      if c not in (scene.colour, scene.background))
        mask = object_mask(sample, rng)
        wanted = replace(scene, colour=target)
        request = replace(_base_request(size), mode="inpaint", checkpoint=checkpoint, prompt=wanted.caption(),
                          init_images=(sample.image,), mask=mask, denoising_strength=1.0, seed=500 + i,
                          inpainting_fill=1)
        out = _run(manager, samplers, request).images[0]
        original, result = np.asarray(sample.image), np.asarray(out.convert("RGB"))
        outside = np.asarray(blur_mask(mask, request.mask_blur)) == 0
        kept += bool(np.array_equal(original[outside], result[outside]))
        inside = np.asarray(mask) >= 128
        background = np.array(shapes.BACKGROUND_COLOURS[scene.background], dtype=np.float32)
        pixels = result[inside].astype(np.float32)
        objectish = pixels[np.linalg.norm(pixels - background, axis=1) > 70]
        if len(objectish) >= 4:
            coloured += _nearest(np.median(objectish, axis=0), shapes.OBJECT_COLOURS) == target
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            strip = Image.new("RGB", (size * 3, size))
            strip.paste(sample.image, (0, 0))
            strip.paste(mask.convert("RGB"), (size, 0))
            strip.paste(out.convert("RGB"), (size * 2, 0))
            strip.save(save_dir / f"inpaint-{i:02d}-{scene.colour}-to-{target}.png")
    return {"member": "inpainting", "pictures": count, "outside_unchanged": kept / count,
            "inside_takes_prompt_colour": coloured / count}


def pen_drawing(sample: shapes.Sample, canvas: int = 384, width: int = 6) -> Image.Image:
    """The sample's outline as a person would draw it on the app's white canvas: black pen, larger page."""
    mask = sample.mask.resize((canvas, canvas), Image.Resampling.BILINEAR).point(lambda v: 255 if v >= 128 else 0)
    edges = np.argwhere(np.asarray(mask.filter(ImageFilter.FIND_EDGES)) > 0)
    page = Image.new("RGB", (canvas, canvas), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    r = width / 2
    for y, x in edges[:: max(1, len(edges) // 600)]:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 0, 0))
    return page


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(1.0, float((a | b).sum()))


def evaluate_scribble(models_dir: Path, count: int, checkpoint: str, controlnet: str,
                      save_dir: Path | None) -> dict[str, Any]:
    from modules.core.requests import ControlUnit
    from modules.engine.controlnet.preprocessors import PreprocessorRegistry

    manager, samplers = _services(models_dir)
    preprocessors = PreprocessorRegistry.default()
    size = 48
    results: dict[str, list[float]] = {"map": [], "pen": []}
    from modules.core.validation import validate
    from modules.engine.generation import generate

    for i in range(count):
        sample = free_sample(10_000_000 + i, size)
        rng = random.Random(90_000 + i)
        hint = shapes.scribble(sample, rng, width=2)
        truth = np.asarray(sample.mask) >= 128
        prompt = shapes.partial_caption(sample.scene, frozenset({"colour", "background"}))
        for kind, picture, module in (("map", hint, "none"), ("pen", pen_drawing(sample), "scribble_threshold")):
            unit = ControlUnit(image=picture, model=controlnet, module=module, processor_res=384 if kind == "pen" else 64)
            request = replace(_base_request(size), checkpoint=checkpoint, prompt=prompt, seed=700 + i,
                              control_units=(unit,))
            out = generate(validate(request, samplers=samplers), manager, samplers, None, preprocessors).images[0]
            region = read_picture(out).object_mask
            results[kind].append(_iou(region, truth))
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                strip = Image.new("RGB", (size * 3, size))
                strip.paste(picture.resize((size, size)), (0, 0))
                strip.paste(sample.image, (size, 0))
                strip.paste(out.convert("RGB"), (size * 2, 0))
                strip.save(save_dir / f"scribble-{i:02d}-{kind}.png")
    return {"member": "scribble", "pictures": count,
            **{f"{k}_mean_iou": round(statistics.mean(v), 3) for k, v in results.items()},
            **{f"{k}_iou_at_least_0.5": sum(x >= 0.5 for x in v) / len(v) for k, v in results.items()}}


def evaluate_night(models_dir: Path, count: int, checkpoint: str, lora: str, baked: str | None,
                   save_dir: Path | None) -> dict[str, Any]:
    """The night style: on held-out captions naming a non-black background, the picture's ground is black
    with the LoRA at weight 1 (and in the baked checkpoint) and as the caption says at weight 0; the object keeps
    the caption's colour either way."""
    manager, samplers = _services(models_dir)
    scenes = [s for s in shapes.held_out_scenes(40) if "black" not in (s.background, s.colour)][:count]
    rows = {label: {"black_ground": 0, "object_colour": 0, "caption_ground": 0}
            for label in ("weight 1", "weight 0", "baked")}
    for i, scene in enumerate(scenes):
        for label, prompt, ckpt in (("weight 1", f"{scene.caption()}, night <lora:{lora}:1>", checkpoint),
                                    ("weight 0", f"{scene.caption()}, night <lora:{lora}:0>", checkpoint),
                                    ("baked", f"{scene.caption()}, night", baked)):
            if ckpt is None:
                continue
            out = _run(manager, samplers, replace(_base_request(48), checkpoint=ckpt, prompt=prompt, seed=900 + i))
            reading = read_picture(out.images[0])
            rows[label]["black_ground"] += reading.background == "black"
            rows[label]["caption_ground"] += reading.background == scene.background
            rows[label]["object_colour"] += reading.colour == scene.colour
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                out.images[0].save(save_dir / f"night-{i:02d}-{label.replace(' ', '')}.png")
    return {"member": "night", "pictures": len(scenes),
            **{f"{label.replace(' ', '_')}_{k}": v / len(scenes) for label, r in rows.items() for k, v in r.items()}}


def evaluate_flux_pinkish(models_dir: Path, count: int, checkpoint: str, lora: str, seeds: int,
                          save_dir: Path | None) -> dict[str, Any]:
    """Held-out captions (objects not pink) at the Flux member's defaults (Euler, 20 steps, CFG 4, 48 px): how often
    the object is pink and how often it has the caption's colour, with the trigger, without it, and without the LoRA."""
    manager, samplers = _services(models_dir)
    defaults = json.loads((models_dir / "Stable-diffusion" / checkpoint / "webui-defaults.json").read_text())
    base = replace(_base_request(defaults["width"]), sampler=defaults["sampler"], steps=defaults["steps"],
                   cfg_scale=defaults["cfg_scale"], checkpoint=checkpoint)
    scenes = [s for s in shapes.held_out_scenes(40) if s.colour != "pink"][:count]
    variants = {"trigger": "{c}, pinkish <lora:%s:1>" % lora, "no_trigger": "{c} <lora:%s:1>" % lora,
                "no_lora": "{c}"}
    rows = {label: {"pink": 0, "caption_colour": 0, "caption_ground": 0} for label in variants}
    for i, scene in enumerate(scenes):
        for seed in range(seeds):
            for label, template in variants.items():
                out = _run(manager, samplers, replace(base, prompt=template.format(c=scene.caption()),
                                                      seed=700 + 10 * i + seed))
                reading = read_picture(out.images[0])
                rows[label]["pink"] += reading.colour == "pink"
                rows[label]["caption_colour"] += reading.colour == scene.colour
                rows[label]["caption_ground"] += reading.background == scene.background
                if save_dir is not None:
                    save_dir.mkdir(parents=True, exist_ok=True)
                    out.images[0].save(save_dir / f"pinkish-{i:02d}-{seed}-{label}.png")
    n = len(scenes) * seeds
    return {"member": "flux-pinkish", "pictures": n,
            **{f"{label}_{k}": round(v / n, 3) for label, r in rows.items() for k, v in r.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("member", choices=["inpainting", "scribble", "night", "flux-pinkish"])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per caption (flux-pinkish)")
    parser.add_argument("--save-dir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.member == "inpainting":
        report = evaluate_inpainting(args.models_dir, args.count, "demo-shapes-inpainting", args.save_dir)
    elif args.member == "scribble":
        report = evaluate_scribble(args.models_dir, args.count, "demo-shapes", "demo-scribble", args.save_dir)
    elif args.member == "flux-pinkish":
        report = evaluate_flux_pinkish(args.models_dir, args.count, "demo-flux-shapes", "demo-flux-pinkish",
                                       args.seeds, args.save_dir)
    else:
        report = evaluate_night(args.models_dir, args.count, "demo-shapes", "demo-night", "demo-shapes-night",
                                args.save_dir)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
