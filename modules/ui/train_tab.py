"""The Train tab: a LoRA from pictures chosen in History (the History tab's search and filters) or a folder
uploaded, captions from each picture's infotext, a text file beside it, or typed; trigger word, rank, alpha,
learning rate, steps, resolution buckets, EMA, min-SNR. The training runs as a job on the shared queue; the tab
follows it with the loss curve and the sample pictures, and the new LoRA is listed at once. Admins set who may
train and for how long."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image, ImageDraw

from modules.core.requests import RequestError
from modules.service import lora_trainer
from modules.service.jobs import CANCELLED, FAILED, NotAllowed, QueueFull
from modules.service.lora_trainer import LoraTrainRequest, TrainImage, TrainStepInfo
from modules.ui.history_tab import make_query, scope_of
from modules.ui.jobstream import POLL_SECONDS, status_html, user_of
from modules.ui.roles import admin_only, may_administer, show_to_admins
from modules.ui.txt2img import checkpoint_choices

if TYPE_CHECKING:
    from modules.service.services import Services

CAPTIONS = ("From each picture's infotext", "From a text file beside it", "Typed below")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def loss_curve(losses: list[float], size: tuple[int, int] = (480, 180)) -> Image.Image | None:
    """The loss per step (light) and its running mean (dark), drawn with PIL: no plotting library needed."""
    if len(losses) < 2:
        return None
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    top, low = max(losses), min(losses)
    span = (top - low) or 1.0

    def point(i: int, value: float) -> tuple[float, float]:
        return (8 + i * (width - 16) / (len(losses) - 1), 8 + (top - value) / span * (height - 24))

    draw.line([point(i, v) for i, v in enumerate(losses)], fill=(190, 200, 230), width=1)
    window = max(1, len(losses) // 20)
    means = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
             for i in range(len(losses))]
    draw.line([point(i, v) for i, v in enumerate(means)], fill=(40, 70, 160), width=2)
    draw.text((8, height - 14), f"step {len(losses)}  loss {means[-1]:.4f}  (max {top:.3f}, min {low:.3f})",
              fill="black")
    return image


def uploaded_pictures(paths: list[str], use_text_files: bool) -> list[TrainImage]:
    """Pictures of an uploaded folder; with `use_text_files`, each one's caption from `name.txt` beside it."""
    files = [Path(p) for p in paths or []]
    texts = {f.with_suffix("").name: f for f in files if f.suffix.lower() == ".txt"}
    pictures = []
    for file in sorted(f for f in files if f.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(file) as opened:
            opened.load()
            image = opened.copy()
        caption = ""
        if use_text_files:
            text = texts.get(file.with_suffix("").name)
            if text is None:
                raise RequestError(f"{file.name} has no text file beside it ({file.stem}.txt): add one, or choose "
                                   "another caption source.")
            caption = text.read_text(encoding="utf-8", errors="replace").strip()
        pictures.append(TrainImage(image, caption))
    return pictures


def _settings_form() -> dict[str, Any]:
    with gr.Accordion("Training settings", open=True):
        with gr.Row():
            steps = gr.Number(500, label="Steps", precision=0, minimum=1, elem_id="train_steps")
            rank = gr.Number(8, label="Rank", precision=0, minimum=1, maximum=256, elem_id="train_rank")
            alpha = gr.Number(0, label="Alpha (0 = rank)", minimum=0, elem_id="train_alpha")
            lr = gr.Number(1e-4, label="Learning rate", minimum=0, elem_id="train_lr")
        with gr.Row():
            batch = gr.Number(1, label="Batch size", precision=0, minimum=1, maximum=64, elem_id="train_batch")
            resolution = gr.Number(0, label="Resolution (0 = the model's own)", precision=0, minimum=0,
                                   elem_id="train_resolution")
            buckets = gr.Checkbox(True, label="Aspect-ratio buckets", elem_id="train_buckets")
        with gr.Row():
            ema = gr.Number(0.0, label="EMA decay of the adapter (0 = off, e.g. 0.99)", minimum=0, maximum=0.9999,
                            elem_id="train_ema")
            snr = gr.Number(5.0, label="Min-SNR γ (0 = off)", minimum=0, elem_id="train_snr")
            preserve = gr.Number(1.0, label="Keep the model as it was without the trigger (0 = off)", minimum=0,
                                 elem_id="train_preserve")
            text_lr = gr.Number(0.0, label="Text encoder learning rate (0 = not trained; e.g. 5e-5)", minimum=0,
                                elem_id="train_text_lr")
        with gr.Row():
            sample_every = gr.Number(100, label="Sample picture every N steps (0 = at the end)", precision=0,
                                     minimum=0, elem_id="train_sample_every")
            sample_prompt = gr.Textbox(label="Sample prompt (empty: the first caption)", elem_id="train_sample_prompt")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="train_seed")
    return {"steps": steps, "rank": rank, "alpha": alpha, "learning_rate": lr, "batch_size": batch,
            "resolution": resolution, "buckets": buckets, "ema_decay": ema, "min_snr_gamma": snr,
            "preserve": preserve, "sample_every": sample_every, "sample_prompt": sample_prompt, "seed": seed,
            "text_encoder_lr": text_lr}


NUMBER_TYPES = {"steps": int, "rank": int, "batch_size": int, "resolution": int, "sample_every": int, "seed": int,
                "alpha": float, "learning_rate": float, "ema_decay": float, "min_snr_gamma": float, "preserve": float,
                "text_encoder_lr": float}


def _limits_form(services: Services) -> None:
    store = services.ui_settings
    with gr.Accordion("Limits (admins)", open=False, visible=False, elem_id="train_limits") as box:
        who = gr.Radio(list(lora_trainer.WHO_CHOICES), value=store.get(lora_trainer.WHO_SETTING), label="Who may train",
                       elem_id="train_limit_who")
        max_steps = gr.Number(store.get(lora_trainer.MAX_STEPS_SETTING), label="Most steps (0 = no limit)",
                              precision=0, minimum=0, elem_id="train_limit_steps")
        minutes = gr.Number(store.get(lora_trainer.MAX_MINUTES_SETTING), label="Longest run in minutes (0 = no "
                            "limit; the LoRA is saved as it is then)", minimum=0, elem_id="train_limit_minutes")
        apply = gr.Button("Apply limits", elem_id="train_limit_apply")
        note = gr.Markdown()

    def save(who_: str, steps_: float, minutes_: float) -> str:
        store.update({lora_trainer.WHO_SETTING: who_ if who_ in lora_trainer.WHO_CHOICES else "everyone",
                      lora_trainer.MAX_STEPS_SETTING: max(0, int(steps_ or 0)),
                      lora_trainer.MAX_MINUTES_SETTING: max(0.0, float(minutes_ or 0))})
        return "Limits saved."

    apply.click(admin_only(services.accounts, save, "change the training limits"), inputs=[who, max_steps, minutes],
                outputs=[note])
    show_to_admins(services.accounts, [box])


def build(services: Services) -> None:
    titles, default, _ = checkpoint_choices(services)
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                name = gr.Textbox(label="LoRA name (models/Lora/<name>.safetensors)", elem_id="train_name")
                checkpoint = gr.Dropdown(titles, value=default, label="Base checkpoint", elem_id="train_checkpoint")
                trigger = gr.Textbox(label="Trigger word", elem_id="train_trigger")
            with gr.Tabs():
                with gr.Tab("From History"):
                    with gr.Row():
                        query = gr.Textbox(label="Words of the prompt", elem_id="train_history_query")
                        model = gr.Textbox(label="Checkpoint", elem_id="train_history_checkpoint")
                        lora = gr.Textbox(label="LoRA", elem_id="train_history_lora")
                        mode = gr.Dropdown(["", "txt2img", "img2img", "inpaint"], value="", label="Mode")
                        size = gr.Textbox(label="Size (WxH)", elem_id="train_history_size")
                    search = gr.Button("Search History", elem_id="train_history_search")
                    chosen = gr.CheckboxGroup([], label="Pictures to train on", elem_id="train_history_pick")
                with gr.Tab("Upload a folder"):
                    folder = gr.File(file_count="directory", label="A folder of pictures (and .txt captions)",
                                     elem_id="train_folder")
            source = gr.Radio(list(CAPTIONS), value=CAPTIONS[0], label="Captions", elem_id="train_caption_source")
            typed = gr.Textbox(label="Typed caption (for pictures without one)", elem_id="train_caption")
            form = _settings_form()
            with gr.Row():
                start = gr.Button("Train", variant="primary", elem_id="train_button")
                stop = gr.Button("Interrupt", elem_id="train_interrupt")
            _limits_form(services)
        with gr.Column(scale=2):
            status = gr.HTML(status_html("Ready."), elem_id="train_status")
            curve = gr.Image(label="Loss", type="pil", format="png", interactive=False, elem_id="train_loss")
            samples = gr.Gallery(label="Samples", format="png", columns=2, elem_id="train_samples")
    job_id = gr.State("")

    def find(text: str, model_: str, lora_: str, mode_: str, size_: str, request: gr.Request = None):
        if services.history is None:
            return gr.update(choices=[])
        try:
            q = make_query(text, model_, lora_, mode_, size_, "", "", False)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        found = services.history.search(q, scope_of(services, request), per_page=200)
        return gr.update(choices=[(f"#{e.id} {e.prompt[:60]}", e.id) for e in found.entries], value=[])

    search.click(find, inputs=[query, model, lora, mode, size], outputs=[chosen])

    # Named parameters throughout: Gradio injects the request only into a named parameter.
    def run(name_: str, checkpoint_: str, trigger_: str, ids: list[int], files: list[str] | None, source_: str,
            typed_: str, steps: float, rank: float, alpha: float, learning_rate: float, batch_size: float,
            resolution: float, buckets: bool, ema_decay: float, min_snr_gamma: float, preserve: float,
            sample_every: float, sample_prompt: str, seed: float, text_encoder_lr: float,
            request: gr.Request = None):
        values = (steps, rank, alpha, learning_rate, batch_size, resolution, buckets, ema_decay, min_snr_gamma,
                  preserve, sample_every, sample_prompt, seed, text_encoder_lr)
        user = user_of(request)
        full_rights = may_administer(services.accounts, request)
        try:
            pictures = uploaded_pictures(files or [], source_ == CAPTIONS[1])
            if ids and services.history is not None:
                pictures += lora_trainer.history_pictures(services.history, list(ids), scope_of(services, request))
            if source_ == CAPTIONS[2]:
                pictures = [TrainImage(p.image, "") for p in pictures]
            numbers = {key: NUMBER_TYPES[key](v or 0) if key in NUMBER_TYPES else v
                       for key, v in zip(form, values)}
            found = services.models.checkpoints.find(checkpoint_ or "")
            request_ = LoraTrainRequest(name=name_ or "", checkpoint=found.name if found else (checkpoint_ or ""),
                                        trigger=trigger_ or "", caption=typed_ or "", init_images=tuple(pictures),
                                        **numbers)
            request_ = lora_trainer.check_allowed(services.ui_settings, user, full_rights, request_)
            job = services.submit(request_, user)
        except (RequestError, LookupError, ValueError, QueueFull, NotAllowed, OSError) as exc:
            yield status_html(f"Error: {exc}", error=True), gr.update(), gr.update(), ""
            return
        yield from follow(job)

    def follow(job: Any):
        shown = None
        while not job.done.wait(POLL_SECONDS * 5):
            progress = job.progress
            if isinstance(progress, TrainStepInfo):
                text = f"Training: step {progress.step} of {progress.steps}, loss {progress.loss:.4f}"
                new = progress.samples if progress.samples and progress.samples is not shown else None
                shown = progress.samples or shown
                yield (status_html(text, job.fraction, running=True), loss_curve(progress.losses),
                       new if new else gr.update(), job.id)
            else:
                yield status_html("Waiting in the queue", 0.0, running=True), gr.update(), gr.update(), job.id
        result = job.result
        if job.status in (FAILED, CANCELLED) or result is None or result.interrupted:
            message = result.info if result is not None else (job.error or "cancelled")
            yield status_html(f"Stopped: {message}", error=job.status == FAILED), gr.update(), gr.update(), ""
            return
        notes = "".join(f"<br>{html.escape(w)}" for w in result.warnings)
        yield (status_html(f"{result.info}. Use it as <lora:{result.lora}:1>.", 1.0, after=notes),
               loss_curve(result.losses), result.images or gr.update(), "")

    start.click(run, inputs=[name, checkpoint, trigger, chosen, folder, source, typed, *form.values()],
                outputs=[status, curve, samples, job_id], concurrency_limit=None, show_progress="hidden")

    def interrupt(current: str, request: gr.Request = None) -> str:
        if current:
            services.jobs.interrupt(current, user_of(request), may_administer(services.accounts, request))
            return status_html("Interrupting: the state is kept; Train again with the same settings to continue.")
        return status_html("No training of yours is running.")

    stop.click(interrupt, inputs=[job_id], outputs=[status])
