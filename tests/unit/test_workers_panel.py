"""The admin's Workers panel: one row per worker with what it holds and does, escaped, and a note when none."""

from __future__ import annotations

from modules.service.workers.pool import WorkerInfo


def info(**changes) -> WorkerInfo:
    base = dict(name="worker-1", host="gpu-box", device="cuda:0", dtype="float16", memory_used=3 * 2**30,
                memory_total=24 * 2**30, loaded=["sdxl.safetensors"], current_job=None, jobs_done=7,
                last_error=None, alive=True)
    return WorkerInfo(**{**base, **changes})


def test_each_worker_is_a_row_with_device_memory_model_job_and_count():
    from modules.ui.workers_panel import table_html

    page = table_html([info(current_job="job42"), info(name="worker-2", alive=False, last_error="worker-2 stopped")])
    assert page.count("<tr>") == 3
    assert "cuda:0 (float16)" in page and "3.0 / 24.0 GB" in page and "sdxl.safetensors" in page
    assert "running: job42" in page and "<td>7</td>" in page
    assert "stopped" in page and "worker-2 stopped" in page


def test_names_from_other_machines_are_escaped_and_no_workers_says_why():
    from modules.ui.workers_panel import table_html

    assert "<b>" not in table_html([info(host="<b>evil</b>")])
    assert "No worker is running yet" in table_html([])
