"""History import never follows a link out of the imported folder (a planted `x.png -> /etc/passwd` would
become a downloadable file in a user's outputs)."""

from __future__ import annotations

from PIL import Image

from modules.service.history import History
from modules.service.history_import import import_folder


def test_links_in_an_imported_folder_are_skipped_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (8, 8), "red").save(elsewhere / "private.png")
    source = tmp_path / "a1111-outputs"
    (source / "txt2img-images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "blue").save(source / "txt2img-images" / "real.png")
    (source / "txt2img-images" / "x.png").symlink_to(secret)
    (source / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    (source / "txt2img-images" / "y.png").symlink_to(elsewhere / "private.png")
    history = History(tmp_path / "outputs")
    report = import_folder(history, source, owner="bob")
    assert report.imported == 1 and report.skipped == 2, str(report)
    files = sorted(p.name for p in (tmp_path / "outputs").rglob("*") if p.is_file() and ".history" not in p.parts)
    assert files == ["real.png"]
    assert "2 link(s) or special file(s) skipped" in str(report)
