"""PNG Info / History "Send to txt2img" restore ControlNet and IP-Adapter units from sd-webui-controlnet's
`ControlNet N: "Module: ..., Model: ..., ..."` infotext entries."""

from __future__ import annotations

from types import SimpleNamespace

from modules.core.infotext import parse_infotext
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.ui.controlnet_panel import ControlNetPanel, unit_entry

TEXT = ('a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512, ControlNet 0: "Module: ip-adapter_clip_sd15, '
        'Model: ip-adapter_sd15 [a1b2c3d4], Weight: 0.7, Resize Mode: Crop and Resize, Processor Res: 512, '
        'Guidance Start: 0.1, Guidance End: 0.8, Pixel Perfect: False, Control Mode: Balanced", '
        'ControlNet 2: "Module: canny, Model: gone, Weight: 1, Resize Mode: Just Resize, Processor Res: 256, '
        'Guidance Start: 0, Guidance End: 1, Pixel Perfect: True, Control Mode: My prompt is more important"')


def services():
    models = SimpleNamespace(controlnets=[], ipadapters=[SimpleNamespace(name="ip-adapter_sd15", error=None)])
    return SimpleNamespace(models=models, preprocessors=PreprocessorRegistry.default())


def panel(units: int) -> ControlNetPanel:
    return ControlNetPanel(units=[SimpleNamespace(index=i) for i in range(units)])


def values(update) -> object:
    return update.get("value", "<unchanged>") if isinstance(update, dict) else update


def test_a_unit_entry_is_split_only_before_known_keys():
    entry = unit_entry('"Module: none, Model: my, model [ab], Weight: 1.2, Guidance End: 0.5"')
    assert entry == {"Module": "none", "Model": "my, model [ab]", "Weight": "1.2", "Guidance End": "0.5"}


def test_an_ip_adapter_unit_comes_back_and_units_the_picture_lacks_are_switched_off():
    updates, note = panel(3).updates_from(services(), parse_infotext(TEXT).params)
    assert len(updates) == 3 * 11
    first = [values(u) for u in updates[:11]]
    assert first == [True, "ip-adapter_clip_sd15", "ip-adapter_sd15", 0.7, 0.1, 0.8, "Balanced", "Crop and Resize",
                     False, 512.0, "<unchanged>"]
    assert values(updates[11]) is False  # unit 1: not in the infotext
    third = [values(u) for u in updates[22:33]]
    assert third[:3] == [True, "canny", "None"] and third[6:9] == ["My prompt is more important", "Just Resize", True]
    assert "model 'gone' is not here" in note and "add the units' pictures again" in note


def test_units_beyond_the_panel_are_named_in_the_note():
    _, note = panel(1).updates_from(services(), parse_infotext(TEXT).params)
    assert "ControlNet unit(s) 2 of the picture do not fit the 1 units here" in note
