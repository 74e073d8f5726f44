"""The Checkpoint Merger tab, laid out as A1111's: three checkpoints, multiplier, method, name, fp16, bake-in
VAE, Merge. The merge runs as a job on the shared queue; the status line follows it, and when it is done every
checkpoint dropdown of this page lists the new model."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.requests import RequestError
from modules.engine.models import merge
from modules.service.jobs import CANCELLED, FAILED, QueueFull
from modules.service.merger import NO_VAE, MergeRequest
from modules.ui.jobstream import POLL_SECONDS, status_html, user_of
from modules.ui.txt2img import checkpoint_choices, kept_choice

if TYPE_CHECKING:
    from modules.service.services import Services

METHOD_LABELS = {label: key for key, label in merge.METHODS.items()}  # "Weighted sum" -> "weighted_sum"


def parse_block_weights(text: str) -> tuple[float, ...]:
    """'0.1, 0.2 ...' -> floats; empty -> () (the multiplier everywhere)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise RequestError(f"Block weights are numbers separated by commas, e.g. 0.5,0.5,... not {text!r}.") from None


def _names(services: Services) -> list[str]:
    return [info.name for info in services.models.checkpoints.usable()]


def _vaes(services: Services) -> list[str]:
    return [NO_VAE, *(vae.name for vae in services.models.vaes)]


def build(services: Services, other_dropdowns: Sequence[Any] = ()) -> None:
    """`other_dropdowns`: up to two checkpoint dropdowns of other tabs (txt2img's, img2img's), given the new
    choices once a merge is done."""
    other_dropdowns = tuple(other_dropdowns)[:2]
    names = _names(services)
    with gr.Row():
        with gr.Column(scale=2):
            gr.Markdown("A merged checkpoint is written to models/Stable-diffusion as safetensors (a folder for "
                        "diffusers models); an existing name is never overwritten.")
            with gr.Row():
                primary = gr.Dropdown(names, label="Primary model (A)", elem_id="merge_primary")
                secondary = gr.Dropdown(names, label="Secondary model (B)", elem_id="merge_secondary")
                tertiary = gr.Dropdown(["", *names], value="", label="Tertiary model (C)", elem_id="merge_tertiary")
                refresh = gr.Button("🔄", elem_id="merge_refresh", scale=0, min_width=40)
            name = gr.Textbox(label="Custom name (optional)", elem_id="merge_name")
            multiplier = gr.Slider(0.0, 1.0, value=0.3, step=0.05, label="Multiplier (M) - set to 0 to get model A",
                                   elem_id="merge_multiplier")
            method = gr.Radio(list(METHOD_LABELS), value="Weighted sum", label="Interpolation method",
                              elem_id="merge_method", info="Weighted sum: A*(1-M) + B*M. Add difference: A + (B-C)*M.")
            blocks = gr.Textbox(label="Block weights (optional): M per UNet block, IN00.., M00, OUT00.. "
                                "(25 for SD 1.x/2.x, 19 for SDXL)", placeholder="empty: M everywhere",
                                elem_id="merge_blocks")
            half = gr.Checkbox(False, label="Save as float16", elem_id="merge_half")
            vae = gr.Dropdown(_vaes(services), value=NO_VAE, label="Bake in VAE", elem_id="merge_vae")
            run_btn = gr.Button("Merge", variant="primary", elem_id="merge_button")
        with gr.Column(scale=1):
            status = gr.HTML(status_html("Ready."), elem_id="merge_status")

    def run(a: str, b: str, c: str, name_: str, m: float, method_: str, blocks_: str, half_: bool, vae_: str,
            first: Any = None, second: Any = None, request: gr.Request = None):
        # Gradio injects the request only into a named parameter, so the other tabs' values come as two.
        others = (first, second)[:len(other_dropdowns)]
        keep = (gr.update(),) * (3 + len(other_dropdowns))
        try:
            job = services.submit(MergeRequest(
                primary=a or "", secondary=b or "", tertiary=c or "", method=METHOD_LABELS.get(method_, method_),
                multiplier=float(m), block_weights=parse_block_weights(blocks_ or ""), name=name_ or "",
                save_as_half=bool(half_), bake_in_vae=vae_ or NO_VAE), user_of(request))
        except (RequestError, LookupError, ValueError, QueueFull) as exc:
            yield status_html(f"Error: {exc}", error=True), *keep
            return
        while not job.done.wait(POLL_SECONDS):
            what = "Merging" if job.status == "running" else "Waiting in the queue"
            yield status_html(f"{what}: {round(job.fraction * 100)}%", job.fraction, running=True), *keep
        if job.status in (FAILED, CANCELLED) or job.result is None:
            yield status_html(f"Error: {job.error or 'cancelled; nothing was written'}", error=True), *keep
            return
        result = job.result
        choices = _names(services)
        notes = "".join(f"<br>{html.escape(w)}" for w in result.warnings)
        # Other tabs list titles ("name [hash]"); their choice is kept, under its title now that hashes are known.
        titles = checkpoint_choices(services)[0]
        yield (status_html(result.info, 1.0, after=notes),
               *(gr.update(choices=list(choices)) for _ in range(2)), gr.update(choices=["", *choices]),
               *(gr.update(choices=titles, value=kept_choice(services, current, current)) for current in others))

    run_btn.click(run, inputs=[primary, secondary, tertiary, name, multiplier, method, blocks, half, vae,
                               *other_dropdowns],
                  outputs=[status, primary, secondary, tertiary, *other_dropdowns], concurrency_limit=None,
                  show_progress="hidden")

    def do_refresh():
        services.models.refresh()
        choices = _names(services)
        return (gr.update(choices=choices), gr.update(choices=choices), gr.update(choices=["", *choices]),
                gr.update(choices=_vaes(services)))

    refresh.click(do_refresh, outputs=[primary, secondary, tertiary, vae])
