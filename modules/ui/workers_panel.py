"""The Workers tab (admins): each generation worker's device, memory, loaded model, current job, jobs done and last
error, as GET /api/v1/workers gives them. Read-only; refreshed on demand and while the tab is open."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.service.workers.listing import list_workers
from modules.ui import roles

if TYPE_CHECKING:
    from modules.service.services import Services

REFRESH_SECONDS = 3.0


def table_html(workers: list[Any]) -> str:
    if not workers:
        return "<p>No worker is running yet: Ray workers are starting, or every one stopped (see the log).</p>"
    rows = []
    for w in workers:
        memory = f"{w.memory_used / 2**30:.1f} / {w.memory_total / 2**30:.1f} GB" if w.memory_total else "?"
        state = "running" if w.current_job else ("idle" if w.alive else "stopped")
        cells = [w.name, w.host, f"{w.device} ({w.dtype})", memory, ", ".join(w.loaded) or "none",
                 f"{state}: {w.current_job}" if w.current_job else state, str(w.jobs_done), w.last_error or ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Worker", "Host", "Device", "Memory", "Loaded", "Job", "Jobs done",
                                            "Last error"))
    return f'<table class="workers-table"><tr>{head}</tr>{"".join(rows)}</table>'


def build(services: Services) -> None:
    mode = "Ray workers (--workers / --ray-address)" if services.workers is not None else \
        "in this process (start with --workers to use several GPUs or machines)"
    with gr.Column(visible=False) as admin_part:
        gr.Markdown(f"Generation runs {mode}. Every finished job records the worker that drew it.")
        table = gr.HTML(elem_id="workers_table")
        refresh = gr.Button("Refresh", elem_id="workers_refresh", size="sm")
        timer = gr.Timer(REFRESH_SECONDS)
    note = gr.Markdown("Only an admin can see the workers.", visible=False)

    def show(request: gr.Request) -> str:
        # The timer ticks on every page: a non-admin gets nothing (the panel is hidden from them anyway).
        if not roles.may_administer(services.accounts, request):
            return ""
        return table_html(list_workers(services))

    refresh.click(show, outputs=[table], queue=False)
    timer.tick(show, outputs=[table], queue=False, show_progress="hidden")
    roles.show_to_admins(services.accounts, [admin_part], [note])
