"""The history index: recorded with every save, repaired after crashes, imported, searched, per user, trash."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from modules.core.infotext import pnginfo_for
from modules.service.history import History, Query, owner_from_path, parse_day
from modules.service.history_import import import_folder
from modules.service.history_index import lora_names, mode_of
from modules.service.outputs import OutputStore

PARAMS = "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: {w}x{h}, Model hash: {hash}, Model: {model}"


def infotext(prompt: str, seed: int = 1, model: str = "dreamshaper", hash_: str = "abcdef1234", w: int = 8,
             h: int = 8, negative: str = "", extra: str = "") -> str:
    neg = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{neg}\n" + PARAMS.format(seed=seed, w=w, h=h, hash=hash_, model=model) + extra


@pytest.fixture
def store(tmp_path: Path):
    history = History(tmp_path / "outputs")
    yield OutputStore(tmp_path / "outputs", index=history), history
    history.close()


def save(store_: OutputStore, prompt: str, user: str | None = None, kind: str = "txt2img-images", seed: int = 1,
         size: tuple[int, int] = (8, 8), now: datetime | None = None, **kwargs) -> Path:
    text = infotext(prompt, seed=seed, w=size[0], h=size[1], **kwargs)
    return store_.save(Image.new("RGB", size, (200, 40, 40)), kind, seed, text, user=user, now=now)


def texts(history: History, query: Query = Query(), owner: str | None = None) -> list[str]:
    return [e.prompt for e in history.search(query, owner).entries]


# ------------------------------------------------------------------------------------------ index on save
def test_every_save_is_indexed_with_its_parameters(store):
    outputs, history = store
    path = save(outputs, "a blue fox <lora:pastel:0.7>", user="alice", seed=42, size=(16, 8), negative="blurry",
                extra=', Lora hashes: "pastel: 1234abcd"')
    [entry] = history.search().entries
    assert entry.path == history.rel(path) and entry.path.startswith("alice/txt2img-images/")
    assert (entry.owner, entry.mode, entry.seed, entry.width, entry.height) == ("alice", "txt2img", 42, 16, 8)
    assert (entry.checkpoint, entry.model_hash, entry.loras) == ("dreamshaper", "abcdef1234", ("pastel",))
    assert entry.negative_prompt == "blurry" and entry.params["Sampler"] == "Euler a"
    assert entry.infotext.startswith("a blue fox") and history.file_of(entry) == path.resolve()


def test_a_failing_index_never_fails_the_save(tmp_path, caplog):
    class Broken:
        def saved(self, *args, **kwargs):
            raise RuntimeError("database is locked")

    store_ = OutputStore(tmp_path, index=Broken())
    path = save(store_, "kept anyway")
    assert path.is_file() and "could not add it to the history" in caplog.text


# ------------------------------------------------------------------------------------------ repair
def test_repair_indexes_files_without_rows_and_drops_rows_without_files(store, tmp_path):
    outputs, history = store
    kept = save(outputs, "kept picture")
    gone = save(outputs, "deleted by hand")
    # A crash between the file and its row: saved with no index attached.
    orphan = save(OutputStore(outputs.root), "saved just before a crash", user="bob")
    gone.unlink()
    report = history.repair()
    assert (report.added, report.removed) == (1, 1)
    assert sorted(texts(history)) == ["kept picture", "saved just before a crash"]
    [entry] = history.search(Query(text="crash")).entries
    assert entry.owner == "bob" and history.file_of(entry) == orphan.resolve()
    assert history.repair().added == 0  # nothing new: a second start does no work twice
    assert kept.exists()


def test_repair_finishes_a_move_to_trash_that_a_crash_interrupted(store):
    outputs, history = store
    save(outputs, "half trashed")
    [entry] = history.search().entries
    target = history._trash_path(entry)
    target.parent.mkdir(parents=True)
    os.replace(history.file_of(entry), target)  # the file moved, the row never said so
    report = history.repair()
    assert report.fixed == 1 and report.removed == 0
    assert texts(history, Query(trashed=True)) == ["half trashed"]
    assert history.restore(entry.id).trashed is None and (outputs.root / entry.path).is_file()


def test_repair_finishes_an_interrupted_restore_and_keeps_ids(store):
    outputs, history = store
    save(outputs, "coming back")
    entry = history.trash(history.search().entries[0].id)
    os.replace(history.file_of(entry), outputs.root / entry.path)  # the file moved back, the row never said so
    report = history.repair()
    assert (report.fixed, report.removed, report.added) == (1, 0, 0)
    [back] = history.search().entries
    assert back.id == entry.id and back.trashed is None  # the same row: nothing indexed twice


def test_repair_skips_the_index_trash_and_temporary_files(store):
    outputs, history = store
    save(outputs, "real")
    history.trash(history.search().entries[0].id)
    (outputs.root / "txt2img-images" / ".tmp-abc.png").write_bytes(b"partial")
    (outputs.root / "notes.png").write_bytes(b"not a picture")  # logged and skipped, never deleted
    assert history.repair().added == 0
    assert (outputs.root / "notes.png").exists() and texts(history) == []


# ------------------------------------------------------------------------------------------ import
A1111_TEXT = ("masterpiece, 1girl, cherry blossoms <lora:sakura_v2:0.8>\nNegative prompt: lowres, bad hands\n"
              "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, Size: 12x16, "
              "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.4, Hires upscale: 2, "
              'Lora hashes: "sakura_v2: 0a1b2c3d4e5f", Version: v1.9.4')


def test_import_of_an_a1111_outputs_folder(store, tmp_path):
    outputs, history = store
    a1111 = tmp_path / "stable-diffusion-webui" / "outputs"
    day = a1111 / "txt2img-images" / "2023-11-02"
    day.mkdir(parents=True)
    Image.new("RGB", (12, 16)).save(day / "00007-3141592653.png", pnginfo=pnginfo_for(A1111_TEXT))
    (a1111 / "img2img-images" / "2023-11-03").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(a1111 / "img2img-images" / "2023-11-03" / "00000-5.png",
                                  pnginfo=pnginfo_for("a cat\nSteps: 5, Seed: 5, Denoising strength: 0.5, Size: 8x8"))
    Image.new("RGB", (8, 8)).save(a1111 / "no-parameters.jpg")
    old = datetime(2023, 11, 2, 10, 0).timestamp()
    os.utime(day / "00007-3141592653.png", (old, old))
    original = (day / "00007-3141592653.png").read_bytes()

    report = import_folder(history, a1111, owner="alice")
    assert (report.imported, report.already, report.unreadable) == (3, 0, 0)
    [entry] = history.search(Query(text="cherry"), owner="alice").entries
    assert entry.path == "alice/imported/outputs/txt2img-images/2023-11-02/00007-3141592653.png"
    assert (entry.seed, entry.checkpoint, entry.model_hash, entry.loras) == (
        3141592653, "v1-5-pruned-emaonly", "6ce0161689", ("sakura_v2",))
    assert entry.mode == "txt2img" and entry.negative_prompt == "lowres, bad hands"
    assert entry.created == pytest.approx(old)  # the picture's own date, so date filters mean what users expect
    assert history.search(Query(mode="img2img"), owner="alice").entries[0].prompt == "a cat"
    assert history.search(owner="alice").total == 3  # pictures without parameters are still kept and listed
    assert (day / "00007-3141592653.png").read_bytes() == original
    assert import_folder(history, a1111, owner="alice").already == 3  # importing again makes no duplicates
    assert history.search(owner="alice").total == 3
    # Imported pictures survive the start-up repair with their owner.
    assert history.repair().added == 0 and history.search(owner="alice").total == 3


def test_import_refuses_the_outputs_folder_itself(store):
    _, history = store
    history.root.mkdir(parents=True, exist_ok=True)
    with pytest.raises(ValueError, match="already inside the outputs folder"):
        import_folder(history, history.root)


# ------------------------------------------------------------------------------------------ search
@pytest.fixture
def filled(store):
    outputs, history = store
    save(outputs, "a blue fox in the snow", seed=1, now=datetime(2024, 5, 1, 12))
    save(outputs, "一只蓝色的狐狸在雪地里", seed=2, now=datetime(2024, 5, 2, 12))
    save(outputs, "red fox, <lora:pastel:0.6>", seed=3, size=(16, 8), now=datetime(2024, 5, 3, 12),
         model="anything-v3", hash_="1111111111")
    save(outputs, "a 100% cotton_shirt", kind="img2img-images", seed=4, now=datetime(2024, 5, 4, 12),
         extra=", Denoising strength: 0.5")
    save(outputs, "Blue Sky", seed=5, now=datetime(2024, 5, 5, 12), negative="fox")
    return history


def test_search_english_words_anywhere_in_the_prompt_any_case(filled):
    assert texts(filled, Query(text="fox")) == ["red fox, <lora:pastel:0.6>", "a blue fox in the snow"]
    assert texts(filled, Query(text="BLUE")) == ["Blue Sky", "a blue fox in the snow"]
    assert texts(filled, Query(text="blue snow")) == ["a blue fox in the snow"]  # every word must match
    assert texts(filled, Query(text="fo")) == ["red fox, <lora:pastel:0.6>", "a blue fox in the snow"]
    assert texts(filled, Query(text="wolf")) == []


def test_search_chinese_long_and_short_terms(filled):
    assert texts(filled, Query(text="蓝色的狐狸")) == ["一只蓝色的狐狸在雪地里"]  # 3+ characters: the FTS index
    assert texts(filled, Query(text="狐狸")) == ["一只蓝色的狐狸在雪地里"]  # 2 characters: the LIKE fallback
    assert texts(filled, Query(text="雪")) == ["一只蓝色的狐狸在雪地里"]
    assert texts(filled, Query(text="狐狸 雪地里")) == ["一只蓝色的狐狸在雪地里"]
    assert texts(filled, Query(text="白色的狐狸")) == []


def test_search_text_is_never_sql_or_fts_syntax(filled):
    assert texts(filled, Query(text="100%")) == ["a 100% cotton_shirt"]
    assert texts(filled, Query(text="e_")) == []  # "_" is a character, not LIKE's any-character wildcard
    assert texts(filled, Query(text="n_")) == ["a 100% cotton_shirt"]
    assert texts(filled, Query(text='fox" OR "sky')) == []
    assert texts(filled, Query(text="NOT")) == []
    assert texts(filled, Query(text="<lora:pastel")) == ["red fox, <lora:pastel:0.6>"]


def test_search_filters(filled):
    assert texts(filled, Query(checkpoint="anything-v3")) == ["red fox, <lora:pastel:0.6>"]
    assert texts(filled, Query(checkpoint="1111111111")) == ["red fox, <lora:pastel:0.6>"]  # by hash too
    assert texts(filled, Query(lora="pastel")) == ["red fox, <lora:pastel:0.6>"]
    assert texts(filled, Query(lora="pastel", text="blue")) == []
    assert texts(filled, Query(mode="img2img")) == ["a 100% cotton_shirt"]
    assert texts(filled, Query(width=16, height=8)) == ["red fox, <lora:pastel:0.6>"]
    days = Query(since=parse_day("2024-05-02"), until=parse_day("2024-05-03", end=True))
    assert texts(filled, days) == ["red fox, <lora:pastel:0.6>", "一只蓝色的狐狸在雪地里"]
    facets = filled.facets()
    assert facets["checkpoints"] == ["anything-v3", "dreamshaper"] and facets["loras"] == ["pastel"]
    assert "16x8" in facets["sizes"]


def test_pages_are_newest_first_and_count_everything(filled):
    first = filled.search(per_page=2)
    second = filled.search(page=2, per_page=2)
    last = filled.search(page=3, per_page=2)
    assert (first.total, first.pages) == (5, 3)
    assert [e.seed for e in first.entries + second.entries + last.entries] == [5, 4, 3, 2, 1]


def test_parse_day_says_how_to_write_a_date():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day("last week")
    assert parse_day("2024-05-02", end=True) - parse_day("2024-05-02") == 86400


def test_layout_helpers():
    assert owner_from_path("alice/txt2img-images/2024-01-01/00000-1.png") == "alice"
    assert owner_from_path("txt2img-images/2024-01-01/00000-1.png") is None
    assert owner_from_path("imported/outputs/txt2img-images/a.png") is None
    assert owner_from_path("bob/imported/outputs/a.png") == "bob"
    assert mode_of("img2img-images/d/x.png", {"Mask blur": "4"}) == "inpaint"
    assert mode_of("x/y.png", {"Steps": "2", "Denoising strength": "0.7", "Hires upscale": "2"}) == "txt2img"
    assert lora_names("<lora:a:1> <lyco:b> x", {"Lora hashes": "a: 12, c: 34"}) == ("a", "b", "c")


# ------------------------------------------------------------------------------------------ users
def test_each_user_sees_only_their_own_pictures_and_none_sees_all(store):
    outputs, history = store
    save(outputs, "alice's fox", user="alice")
    save(outputs, "bob's fox", user="bob")
    assert texts(history, Query(text="fox"), owner="alice") == ["alice's fox"]
    assert texts(history, Query(text="fox"), owner="bob") == ["bob's fox"]
    assert sorted(texts(history, Query(text="fox"))) == ["alice's fox", "bob's fox"]  # an admin (owner=None)
    bobs = history.search(owner="bob").entries[0]
    with pytest.raises(LookupError):
        history.get(bobs.id, owner="alice")
    with pytest.raises(LookupError):
        history.trash(bobs.id, owner="alice")
    assert history.file_of(bobs).exists()
    assert history.facets(owner="alice")["checkpoints"] == ["dreamshaper"]


# ------------------------------------------------------------------------------------------ trash
def test_delete_moves_to_trash_undo_brings_it_back(store):
    outputs, history = store
    path = save(outputs, "precious", user="alice")
    data = path.read_bytes()
    entry = history.search(owner="alice").entries[0]
    trashed = history.trash(entry.id, owner="alice")
    assert not path.exists() and trashed.trashed is not None
    assert history.file_of(trashed).read_bytes() == data
    assert texts(history, owner="alice") == [] and texts(history, Query(trashed=True), owner="alice") == ["precious"]
    restored = history.restore(entry.id, owner="alice")
    assert restored.trashed is None and path.read_bytes() == data
    assert texts(history, owner="alice") == ["precious"]


def test_trash_and_restore_of_a_vanished_file_say_so_and_change_nothing(store):
    outputs, history = store
    path = save(outputs, "vanishing")
    entry = history.search().entries[0]
    path.unlink()
    with pytest.raises(LookupError, match="missing"):
        history.trash(entry.id)
    assert history.get(entry.id).trashed is None  # the row was not half-changed
    save(outputs, "second")
    second = history.trash(history.search(Query(text="second")).entries[0].id)
    history.file_of(second).unlink()
    with pytest.raises(LookupError, match="cannot be restored"):
        history.restore(second.id)
    assert history.get(second.id).trashed is not None


def test_undo_never_overwrites_a_picture_saved_at_the_same_name(store):
    outputs, history = store
    path = save(outputs, "first", seed=7)
    entry = history.search().entries[0]
    history.trash(entry.id)
    newer = save(outputs, "second", seed=7)  # the counter reuses the free number: same name
    assert newer == path
    restored = history.restore(entry.id)
    assert history.file_of(restored) != path.resolve()
    assert history.file_of(restored).name.endswith("-restored-1.png")
    assert sorted(texts(history)) == ["first", "second"]
    assert "second" in Image.open(path).info["parameters"]


def test_emptying_the_trash_needs_confirmation_and_only_touches_the_trash(store):
    outputs, history = store
    keep = save(outputs, "keep me", user="alice")
    save(outputs, "throw away", user="alice")
    save(outputs, "bob's trash", user="bob")
    for owner in ("alice", "bob"):
        history.trash(history.search(Query(text="a"), owner=owner).entries[0].id if owner == "bob" else
                      history.search(Query(text="throw"), owner=owner).entries[0].id, owner=owner)
    trashed_file = history.file_of(history.search(Query(trashed=True), owner="alice").entries[0])
    with pytest.raises(PermissionError, match="confirm"):
        history.empty_trash("alice")
    assert trashed_file.exists()
    assert history.empty_trash("alice", confirm=True) == 1
    assert not trashed_file.exists() and keep.exists()
    assert texts(history, Query(trashed=True), owner="bob") == ["bob's trash"]  # another user's trash is theirs


# ------------------------------------------------------------------------------------------ files
def test_a_row_pointing_outside_the_outputs_folder_is_never_served(store, tmp_path):
    outputs, history = store
    save(outputs, "fine")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    entry = history.search().entries[0]
    with history._tx() as db:  # a tampered (or corrupted) database
        db.execute("UPDATE images SET path = '../secret.png' WHERE id = ?", (entry.id,))
    with pytest.raises(LookupError, match="outside"):
        history.file_of(history.get(entry.id))
    link = outputs.root / "txt2img-images" / "link.png"
    link.symlink_to(secret)
    with history._tx() as db:
        db.execute("UPDATE images SET path = 'txt2img-images/link.png' WHERE id = ?", (entry.id,))
    with pytest.raises(LookupError, match="outside"):
        history.thumbnail(history.get(entry.id))


def test_thumbnails_are_small_and_made_once(store):
    outputs, history = store
    save(outputs, "big", size=(1024, 512))
    entry = history.search().entries[0]
    thumb = history.thumbnail(entry)
    with Image.open(thumb) as image:
        assert image.format == "WEBP" and max(image.size) == 256
    made = thumb.stat().st_mtime_ns
    time.sleep(0.01)
    assert history.thumbnail(entry) == thumb and thumb.stat().st_mtime_ns == made
