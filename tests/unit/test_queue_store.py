"""Queued jobs survive a restart: saved when queued, resumed in their order for their owners, pictures and all."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from modules.core.aside import move_aside
from modules.core.infotext import pnginfo_for
from modules.core.requests import ControlUnit, GenerationRequest, LoraRef
from modules.core.results import GenerationResult, JobControl
from modules.service.jobs import CANCELLED, DONE, JobQueue, SavedJob
from modules.service.queue_store import DEFAULT_TYPES, MAX_RESTARTS, QueueFolder, decode, encode

WAIT = 10.0


class Recorder:
    """A runner that records (owner, request) in the order jobs ran; with `block`, a request with prompt 'block'
    waits for `release` (or its interrupt), like a long generation."""

    def __init__(self, block: bool = False) -> None:
        self.block = block
        self.ran: list[tuple[str, GenerationRequest]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, request, control: JobControl, owner: str) -> GenerationResult:
        self.ran.append((owner, request))
        if self.block and request.prompt == "block":
            self.started.set()
            while not self.release.is_set() and not control.interrupt.is_set():
                time.sleep(0.005)
        interrupted = control.interrupt.is_set()
        return GenerationResult(request=request, images=[], seeds=[], subseeds=[], infotexts=[],
                                interrupted=interrupted)


def picture(mode: str = "RGB", size: tuple[int, int] = (24, 16), seed: int = 0) -> Image.Image:
    """A picture with varied pixels (so a lossy or shifted copy would not compare equal)."""
    image = Image.effect_noise(size, 60 + seed).convert(mode)
    return image


def img2img_request(prompt: str, seed: int = 1) -> GenerationRequest:
    source = picture(seed=seed)
    source.info["parameters"] = "a fox\nSteps: 20, Seed: 5, Size: 24x16"  # a picture's own parameters are kept
    mask = picture("L", seed=seed + 1)
    control = picture("RGBA", (16, 16), seed=seed + 2)
    return GenerationRequest(prompt=prompt, mode="inpaint", seed=seed, subseed=seed + 1, init_images=(source,),
                             mask=mask, loras=(LoraRef("pastel", 0.7),), outpaint=(8, 0, 0, 8),
                             control_units=(ControlUnit(image=control, module="canny", model="cn-canny",
                                                        threshold_a=100.0),),
                             extra={"xyz_grid": {"axes": ["Seed", "Steps"], "values": (1, 2.5, None)}})


_OPEN: dict[Path, QueueFolder] = {}


def folder_store(tmp_path: Path) -> QueueFolder:
    """The store of a new process on the folder: the earlier one's process has ended (its lock is released)."""
    folder = tmp_path / "outputs" / ".history" / "queue"
    if folder in _OPEN:
        _OPEN.pop(folder).close()
    _OPEN[folder] = QueueFolder(folder)
    return _OPEN[folder]


def wait_all(queue: JobQueue, jobs) -> None:
    for job in jobs:
        assert queue.wait(job, WAIT), f"job {job.id} did not finish"


# ------------------------------------------------------------------------------------------ restart
def test_queued_jobs_run_after_a_restart_in_their_order_for_their_owners_with_their_pictures(tmp_path):
    before = JobQueue(Recorder(), store=folder_store(tmp_path))  # its worker never starts: the process "dies"
    submitted = [("alice", img2img_request("alice first", 1)), ("bob", GenerationRequest(prompt="bob", seed=7)),
                 ("alice", img2img_request("alice second", 3)), ("carol", GenerationRequest(prompt="carol"))]
    jobs = [before.submit(request, owner) for owner, request in submitted]
    ids = [job.id for job in jobs]
    planned = [(job.owner, job.request) for job in sorted(jobs, key=before.position)]  # fair: carol before alice's 2nd
    assert len(list(folder_store(tmp_path).folder.glob("*.json"))) == 4

    runner = Recorder()
    after = JobQueue(runner, store=folder_store(tmp_path))  # the next start, on the same folder
    after.start()
    try:
        wait_all(after, [after.get(job_id) for job_id in ids])
    finally:
        after.stop()
    assert [owner for owner, _ in runner.ran] == ["alice", "bob", "carol", "alice"]
    assert runner.ran == planned  # the same order, every field, every picture (pixels, mode, size, parameters)
    first = runner.ran[0][1]
    assert first.init_images[0].tobytes() == submitted[0][1].init_images[0].tobytes()
    assert first.init_images[0].info["parameters"].startswith("a fox")
    assert first.control_units[0].image.mode == "RGBA" and first.extra["xyz_grid"]["values"] == (1, 2.5, None)
    assert [after.get(i).owner for i in ids] == ["alice", "bob", "alice", "carol"]  # same ids: clients keep polling
    assert not list(folder_store(tmp_path).folder.iterdir())  # finished jobs leave the store


def test_new_jobs_after_a_restart_queue_behind_the_resumed_ones(tmp_path):
    before = JobQueue(Recorder(), store=folder_store(tmp_path))
    for n in range(3):
        before.submit(GenerationRequest(prompt=f"old {n}"), "alice")
    runner = Recorder()
    after = JobQueue(runner, store=folder_store(tmp_path))
    fresh = after.submit(GenerationRequest(prompt="new"), "alice")  # before start: the saved ones still go first
    assert after.position(fresh) == 3
    after.start()
    try:
        wait_all(after, [fresh])
    finally:
        after.stop()
    assert [request.prompt for _, request in runner.ran] == ["old 0", "old 1", "old 2", "new"]


def test_a_job_running_when_the_process_died_runs_again_with_a_warning(tmp_path, caplog):
    dying = Recorder(block=True)
    before = JobQueue(dying, store=folder_store(tmp_path))
    before.start()
    job = before.submit(GenerationRequest(prompt="block", seed=3), "alice")
    waiting = before.submit(GenerationRequest(prompt="next"), "bob")
    assert dying.started.wait(WAIT)
    assert [p.name for p in sorted(folder_store(tmp_path).folder.iterdir())] == sorted(
        [f"{job.id}.running", f"{waiting.id}.json"])

    runner = Recorder()
    after = JobQueue(runner, store=folder_store(tmp_path))  # the first process is stuck: as good as dead
    with caplog.at_level(logging.WARNING):
        after.start()
    try:
        wait_all(after, [after.get(job.id), after.get(waiting.id)])
    finally:
        after.stop()
        dying.release.set()
        before.stop()
    assert [(o, r.prompt) for o, r in runner.ran] == [("alice", "block"), ("bob", "next")]
    assert f"job {job.id} of alice was running" in caplog.text and "runs again" in caplog.text


def test_a_shutdown_keeps_the_running_job_and_the_queue_for_the_next_start(tmp_path):
    runner = Recorder(block=True)
    queue = JobQueue(runner, store=folder_store(tmp_path))
    queue.start()
    running = queue.submit(GenerationRequest(prompt="block"), "alice")
    queued = queue.submit(GenerationRequest(prompt="later"), "alice")
    assert runner.started.wait(WAIT)
    queue.stop()  # Ctrl+C: the running job is interrupted by the shutdown, not by its owner
    assert running.status == CANCELLED and queued.status == "queued"
    saved = folder_store(tmp_path).load()
    # Waiting again, as before it started: a shutdown is not a crash, so it counts no restart.
    assert [(job.id, job.was_running) for job in saved] == [(running.id, False), (queued.id, False)]


def test_cancelled_and_finished_jobs_leave_the_store(tmp_path):
    store = folder_store(tmp_path)
    queue = JobQueue(Recorder(), store=store)
    cancelled = queue.submit(GenerationRequest(prompt="never mind"), "alice")
    kept = queue.submit(GenerationRequest(prompt="keep"), "alice")
    assert queue.interrupt(cancelled.id, "alice")
    assert [job.id for job in store.load()] == [kept.id]
    queue.start()
    try:
        wait_all(queue, [kept])
    finally:
        queue.stop()
    assert kept.status == DONE and store.load() == []


def test_a_job_that_cannot_be_saved_still_runs(tmp_path, caplog):
    runner = Recorder()
    queue = JobQueue(runner, store=folder_store(tmp_path))
    odd = GenerationRequest(prompt="odd", extra={"ext": object()})  # nothing a file can hold
    with caplog.at_level(logging.WARNING):
        job = queue.submit(odd, "alice")
    assert "could not save job" in caplog.text
    queue.start()
    try:
        wait_all(queue, [job])
    finally:
        queue.stop()
    assert job.status == DONE and runner.ran == [("alice", odd)]


# ------------------------------------------------------------------------------------------ damaged files
def test_a_corrupt_job_file_is_moved_aside_with_a_warning_and_never_stops_the_start(tmp_path, caplog):
    before = JobQueue(Recorder(), store=folder_store(tmp_path))
    good = before.submit(GenerationRequest(prompt="good"), "alice")
    cut = before.submit(GenerationRequest(prompt="cut"), "alice")
    alien = before.submit(GenerationRequest(prompt="alien"), "bob")
    folder = folder_store(tmp_path).folder
    text = (folder / f"{cut.id}.json").read_text()
    (folder / f"{cut.id}.json").write_text(text[: len(text) // 2])  # a torn file
    record = json.loads((folder / f"{alien.id}.json").read_text())
    record["request"]["fields"]["no_such_field"] = 1  # written by a version whose request differs
    (folder / f"{alien.id}.json").write_text(json.dumps(record))
    (folder / f"{cut.id}.json.corrupt").write_text("an earlier damaged copy")  # never overwritten

    runner = Recorder()
    after = JobQueue(runner, store=folder_store(tmp_path))
    with caplog.at_level(logging.WARNING):
        after.start()
    try:
        wait_all(after, [after.get(good.id)])
    finally:
        after.stop()
    assert [r.prompt for _, r in runner.ran] == ["good"]
    assert after.get(cut.id) is None and after.get(alien.id) is None
    assert (folder / f"{cut.id}.json.corrupt").read_text() == "an earlier damaged copy"
    assert (folder / f"{cut.id}.json.corrupt-2").read_text() == text[: len(text) // 2]
    assert (folder / f"{alien.id}.json.corrupt").exists()
    assert caplog.text.count("is not queued again") == 2 and "no_such_field" in caplog.text


def test_a_job_that_keeps_stopping_the_process_is_set_aside(tmp_path, caplog):
    store = folder_store(tmp_path)
    store.save(SavedJob(id="abc123", owner="alice", seq=0, request=GenerationRequest(prompt="boom"), created=1.0))
    for restart in range(1, MAX_RESTARTS + 1):
        store.started("abc123")  # ... and the process dies
        [job] = store.load()
        assert job.was_running and job.request.prompt == "boom", restart
    store.started("abc123")
    with caplog.at_level(logging.WARNING):
        assert store.load() == []
    assert (store.folder / "abc123.running.stopped").exists()
    assert "it may be what stops it" in caplog.text


def test_half_written_temporary_files_are_removed_and_unknown_files_left_alone(tmp_path):
    store = folder_store(tmp_path)
    store.save(SavedJob(id="a1", owner="alice", seq=0, request=GenerationRequest(), created=1.0))
    (store.folder / ".tmp-xyz.json").write_text('{"format": 1, "id"')
    (store.folder / "notes.txt").write_text("mine")
    assert [job.id for job in store.load()] == ["a1"]
    assert sorted(p.name for p in store.folder.iterdir()) == ["a1.json", "notes.txt"]


# ------------------------------------------------------------------------------------------ values
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "1", "P", "I;16", "I", "F", "CMYK"])
def test_pictures_of_every_mode_come_back_equal(mode):
    image = picture(mode)
    if mode == "P":
        image.info["transparency"] = 3
    back = decode(encode(image, {}), {})
    assert (back.mode, back.size, back.tobytes()) == (image.mode, image.size, image.tobytes())
    assert back.info == image.info and back.getpalette() == image.getpalette()


def test_a_pictures_png_text_and_exif_are_kept(tmp_path):
    path = tmp_path / "made.png"
    picture().save(path, pnginfo=pnginfo_for("a castle\nSteps: 4, Seed: 9", {"workflow": "{}"}))
    with Image.open(path) as opened:
        opened.load()
        back = decode(encode(opened, {}), {})
    assert back.info["parameters"] == "a castle\nSteps: 4, Seed: 9" and back.info["workflow"] == "{}"


def test_only_the_request_types_are_rebuilt():
    types = {f"{t.__module__}.{t.__qualname__}": t for t in DEFAULT_TYPES}

    @dataclasses.dataclass(frozen=True)
    class Other:
        x: int = 1

    with pytest.raises(TypeError, match="not one of the request types"):
        encode(Other(), types)
    with pytest.raises(ValueError, match="not a request type"):
        decode({"dataclass": "os.system", "fields": {}}, types)
    data = {"k": [1, (2, "x")], 3: b"\x00\xff", "nested": {"dataclass": "looks like one"}}
    assert decode(json.loads(json.dumps(encode(data, types))), types) == data


def test_move_aside_numbers_copies_and_moves_companions(tmp_path):
    db = tmp_path / "history.sqlite3"
    for n in range(3):
        db.write_text(f"copy {n}")
        Path(f"{db}-wal").write_text(f"wal {n}")
        move_aside(db, companions=("-wal",))
    assert [(tmp_path / name).read_text() for name in
            ("history.sqlite3.corrupt", "history.sqlite3.corrupt-2", "history.sqlite3.corrupt-3")] == [
        "copy 0", "copy 1", "copy 2"]
    assert (tmp_path / "history.sqlite3.corrupt-2-wal").read_text() == "wal 1" and not db.exists()


def test_a_second_running_instance_on_the_same_folder_does_not_take_the_first_ones_jobs(tmp_path, caplog):
    folder = tmp_path / "outputs" / ".history" / "queue"
    first = QueueFolder(folder)
    queue = JobQueue(Recorder(), store=first)
    queue.submit(GenerationRequest(prompt="mine"), "alice")
    second = QueueFolder(folder)  # another instance started on the same outputs folder meanwhile
    assert second.load() == []
    assert "another running instance" in caplog.text
    second.save(SavedJob(id="ab12cd34ef56", owner="bob", seq=0, request=GenerationRequest(prompt="theirs"), created=0.0))
    assert [p.name for p in folder.glob("*.json")] == [f"{queue.all_jobs()[0].id}.json"]
    first.close()
