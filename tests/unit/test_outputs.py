"""Saving images: A1111 naming, counters, metadata, and never losing or overwriting a file."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from modules.core.infotext import read_image_infotext
from modules.service import outputs
from modules.service.outputs import OutputStore, next_number, save_image

NOW = datetime(2024, 5, 6, 13, 45)
DAY = "2024-05-06"


def _image(color: tuple[int, int, int] = (10, 20, 30)) -> Image.Image:
    return Image.new("RGB", (8, 8), color)


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_names_counter_and_date_folder(tmp_path: Path) -> None:
    first = save_image(_image(), folder=tmp_path, seed=1234, infotext="a", now=NOW)
    second = save_image(_image(), folder=tmp_path, seed=99, infotext="b", now=NOW)
    assert first == tmp_path / DAY / "00000-1234.png"
    assert second == tmp_path / DAY / "00001-99.png"
    other_day = save_image(_image(), folder=tmp_path, seed=1, infotext="c", now=datetime(2024, 5, 7))
    assert other_day == tmp_path / "2024-05-07" / "00000-1.png"


def test_counter_continues_after_highest_existing_number(tmp_path: Path) -> None:
    day = tmp_path / DAY
    day.mkdir()
    for name in ["00003-1.png", "00041-5.jpg", "grid-0099.png", "notes.txt", ".tmp-x.png"]:
        (day / name).write_bytes(b"x")
    assert next_number(day) == 42
    assert save_image(_image(), folder=tmp_path, seed=7, infotext="", now=NOW).name == "00042-7.png"


def test_infotext_is_in_the_saved_png(tmp_path: Path) -> None:
    text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler, Seed: 5"
    path = save_image(_image(), folder=tmp_path, seed=5, infotext=text, now=NOW)
    with Image.open(path) as image:
        assert image.info["parameters"] == text
        assert read_image_infotext(image) == text


@pytest.mark.parametrize(("fmt", "ext"), [("jpg", ".jpg"), ("jpeg", ".jpg"), ("webp", ".webp"), ("PNG", ".png")])
def test_other_formats_carry_infotext(tmp_path: Path, fmt: str, ext: str) -> None:
    text = "猫, a cat\nSteps: 20, Sampler: Euler, Seed: 5"
    rgba = Image.new("RGBA", (8, 8), (1, 2, 3, 128))  # JPEG must drop the alpha, not fail
    path = save_image(rgba, folder=tmp_path, seed=5, infotext=text, fmt=fmt, now=NOW)
    assert path.suffix == ext
    with Image.open(path) as image:
        assert read_image_infotext(image) == text


def test_unsupported_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported image format 'gif'"):
        save_image(_image(), folder=tmp_path, seed=1, infotext="", fmt="gif", now=NOW)
    assert not (tmp_path / DAY).exists()


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    day = tmp_path / DAY
    day.mkdir()
    mine = day / "00005-7.png"
    mine.write_bytes(b"hand made")
    path = save_image(_image(), folder=tmp_path, seed=7, infotext="", now=NOW)
    assert path.name == "00006-7.png"
    assert mine.read_bytes() == b"hand made"


@pytest.mark.parametrize("hard_links", [True, False])
@pytest.mark.parametrize("stale_scans", [1, 2])
def test_lost_race_takes_the_next_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         hard_links: bool, stale_scans: int) -> None:
    day = tmp_path / DAY
    day.mkdir()
    mine = day / "00005-7.png"
    mine.write_bytes(b"hand made")
    # Another process created 00005 between our scan and our write, so the first scan answers a
    # stale 5. The re-scan under the number's marker catches it; if that is stale too (a writer
    # that uses no markers), the exclusive link does.
    monkeypatch.setattr(outputs, "next_number", lambda d: 5)
    stale = [set()] * (stale_scans - 1)
    real_numbers = outputs._numbers
    monkeypatch.setattr(outputs, "_numbers", lambda d: stale.pop() if stale else real_numbers(d))
    if not hard_links:  # e.g. FAT or a network share: the O_EXCL fallback must be just as safe
        def no_link(src: object, dst: object) -> None:
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(outputs.os, "link", no_link)
    path = save_image(_image(), folder=tmp_path, seed=7, infotext="t", now=NOW)
    assert path.name == "00006-7.png"
    assert mine.read_bytes() == b"hand made"
    with Image.open(path) as image:
        assert image.info["parameters"] == "t"
    assert _names(day) == ["00005-7.png", "00006-7.png"]


def test_number_being_saved_by_someone_else_is_skipped(tmp_path: Path) -> None:
    day = tmp_path / DAY
    day.mkdir()
    (day / ".saving-00000").write_bytes(b"")  # another saver holds number 0 right now
    path = save_image(_image(), folder=tmp_path, seed=3, infotext="", now=NOW)
    assert path.name == "00001-3.png"


def test_concurrent_saves_get_distinct_complete_files(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    paths: list[Path] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            for j in range(10):
                seed = index * 100 + j
                paths.append(save_image(_image((index, j, 0)), folder=tmp_path, seed=seed,
                                        infotext=f"Seed: {seed}", now=NOW))
        except BaseException as error:  # surfaced by the assert below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(paths)) == 80
    names = _names(tmp_path / DAY)
    assert len(names) == 80  # no temp files left behind
    assert sorted(int(n[:5]) for n in names) == list(range(80))
    for path in paths:
        seed = int(path.stem.split("-")[1])
        with Image.open(path) as image:
            image.load()
            assert image.info["parameters"] == f"Seed: {seed}"
            assert image.getpixel((0, 0)) == (seed // 100, seed % 100, 0)


def _disk_full(*args: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("broken", ["fsync", "link and replace"])
def test_nothing_left_behind_when_saving_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               broken: str) -> None:
    if broken == "fsync":
        monkeypatch.setattr(outputs.os, "fsync", _disk_full)
    else:  # the link fails, then so does the fallback's replace over its placeholder
        monkeypatch.setattr(outputs.os, "link", _disk_full)
        monkeypatch.setattr(outputs.os, "replace", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_image(_image(), folder=tmp_path, seed=1, infotext="", now=NOW)
    assert _names(tmp_path / DAY) == []


def test_store_places_images_by_user_and_kind(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    shared = store.save(_image(), "txt2img-images", 3, "x")
    assert shared.parent.parent == tmp_path / "txt2img-images"
    alice = store.save(_image(), "img2img-images", 4, "y", user="alice", now=NOW)
    assert alice == tmp_path / "alice" / "img2img-images" / DAY / "00000-4.png"


@pytest.mark.parametrize("user", ["..", ".", "", "  ", "a/b", "../etc", "a\\b", "C:", "bob\x00", " bob"])
def test_store_rejects_bad_user_names(tmp_path: Path, user: str) -> None:
    with pytest.raises(ValueError, match="invalid user name"):
        OutputStore(tmp_path).save(_image(), "txt2img-images", 1, "", user=user)
    assert list(tmp_path.iterdir()) == []


def test_store_rejects_bad_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid output kind"):
        OutputStore(tmp_path).save(_image(), "../outside", 1, "")


def test_saved_files_get_the_usual_permissions(tmp_path):
    import stat

    from PIL import Image

    from modules.service.outputs import save_image

    old = os.umask(0o022)
    try:
        path = save_image(Image.new("RGB", (4, 4)), folder=tmp_path, seed=1, infotext="x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by gallery tools and other users
