"""Face restoration's A1111 formats: the infotext field, and the folders' flags and defaults."""

from __future__ import annotations

from modules.core.infotext import format_infotext, parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.settings import settings_from_args


def test_the_face_restoration_field_round_trips_through_the_infotext():
    text = format_infotext("a portrait", "", {"Steps": 20, "Sampler": "Euler a", "Seed": 1,
                                              "Face restoration": "CodeFormer", "Size": "512x512"})
    assert "Seed: 1, Face restoration: CodeFormer, Size: 512x512" in text
    parsed = parse_infotext(text)
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["restore_faces"] is True and fields["face_restorer"] == "CodeFormer"


def test_an_infotext_without_the_field_does_not_turn_restoration_on():
    parsed = parse_infotext("a portrait\nSteps: 20, Seed: 1, Size: 512x512")
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert "restore_faces" not in fields and "face_restorer" not in fields


def test_face_restorer_folders_follow_models_dir_in_a1111s_layout(tmp_path):
    (tmp_path / "CodeFormer").mkdir()  # as Forge and many guides spell it
    settings = settings_from_args(["--models-dir", str(tmp_path)])
    assert settings.paths.gfpgan == tmp_path / "GFPGAN"
    assert settings.paths.codeformer == tmp_path / "CodeFormer"


def test_face_restorer_folders_have_a1111s_flags(tmp_path):
    settings = settings_from_args(["--gfpgan-models-path", str(tmp_path / "g"),
                                   "--codeformer-models-path", str(tmp_path / "c")])
    assert settings.paths.gfpgan == tmp_path / "g" and settings.paths.codeformer == tmp_path / "c"
