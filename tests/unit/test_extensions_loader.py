"""The extension loader: every kind of broken extension is listed with its reason, and the others load."""

from __future__ import annotations

import logging

import pytest

from modules.core.requests import GenerationRequest
from modules.core.settings import SettingsStore
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.extension_api import ExtensionApi, ExtensionSettings
from modules.service.extensions import (
    DISABLED,
    FAILED,
    LOADED,
    MISSING,
    REFUSED,
    install_allowed,
    install_from_git,
    load_extensions,
    missing_requirements,
)
from tests.fixtures.fake_extensions import (
    GOOD,
    RAISES_AT_IMPORT,
    RAISES_AT_SETUP,
    RAISES_IN_HOOK,
    WRONG_VERSION,
    write_extension,
)


@pytest.fixture
def store(tmp_path):
    return SettingsStore(tmp_path / "settings.json", {})


@pytest.fixture
def all_kinds(tmp_path):
    root = tmp_path / "extensions"
    write_extension(root, "good", GOOD, metadata='name = "Good"\nversion = "1.2"\nauthor = "me"\n')
    write_extension(root, "at-import", RAISES_AT_IMPORT)
    write_extension(root, "at-setup", RAISES_AT_SETUP)
    write_extension(root, "in-hook", RAISES_IN_HOOK)
    write_extension(root, "future", WRONG_VERSION)
    write_extension(root, "needs-pkg", GOOD, requirements="# a comment\nno-such-package-xyz>=1.0\n")
    (root / "not-an-extension").mkdir()  # no extension.py: ignored
    return root


def test_each_broken_extension_is_listed_with_its_reason_and_the_good_one_loads(all_kinds, store, caplog):
    with caplog.at_level(logging.ERROR):
        host = load_extensions(all_kinds, store=store)
    by_name = {e.name: e for e in host.extensions}
    assert sorted(by_name) == ["at-import", "at-setup", "future", "good", "in-hook", "needs-pkg"]
    assert by_name["good"].status == LOADED and by_name["good"].api_version == 1
    assert by_name["good"].metadata == {"name": "Good", "version": "1.2", "author": "me"}
    assert by_name["in-hook"].status == LOADED  # it only fails when its hook runs
    assert by_name["at-import"].status == FAILED and "boom at import" in by_name["at-import"].error
    assert by_name["at-setup"].status == FAILED and "boom in setup" in by_name["at-setup"].error
    assert "Traceback" in by_name["at-setup"].details
    assert by_name["future"].status == REFUSED
    assert "version 99" in by_name["future"].error and "supports version 1" in by_name["future"].error
    assert by_name["needs-pkg"].status == MISSING
    assert "no-such-package-xyz" in by_name["needs-pkg"].error
    assert 'pip install "no-such-package-xyz>=1.0"' in by_name["needs-pkg"].error
    # The log names the extension with the traceback, so a user can report it.
    assert any("at-import" in r.getMessage() and "boom at import" in r.getMessage() for r in caplog.records)
    assert all(e.load_ms >= 0 for e in host.extensions)


def test_a_failed_setup_contributes_nothing(all_kinds, store):
    host = load_extensions(all_kinds, store=store)
    tabs = [ext.name for ext, _ in host.contributions("tabs")]
    assert "at-setup" not in tabs


def test_before_generate_hooks_change_the_request_and_a_failing_hook_is_skipped(all_kinds, store):
    host = load_extensions(all_kinds, store=store)
    request = host.before_generate(GenerationRequest(prompt="cat"))
    assert request.prompt == "cat, good-suffix"
    broken = host.get("in-hook")
    assert broken.status == FAILED and "before_generate" in broken.error and "boom" in broken.error
    assert not broken.active  # its other hooks no longer run


def test_extension_settings_have_defaults_and_persist_under_the_extension_name(all_kinds, store, tmp_path):
    host = load_extensions(all_kinds, store=store)
    settings = host.get("good").api.settings
    assert settings.get("suffix") == "good-suffix"
    settings.update({"suffix": "changed"})
    reloaded = SettingsStore(tmp_path / "settings.json", {})
    assert reloaded.get("extension_settings") == {"good": {"suffix": "changed"}}
    again = load_extensions(all_kinds, store=reloaded)
    assert again.before_generate(GenerationRequest(prompt="cat")).prompt == "cat, changed"
    with pytest.raises(KeyError, match="never declared"):
        settings.get("nope")


def test_disabled_extensions_are_listed_but_not_imported(all_kinds, store):
    store.update({"disabled_extensions": ["good", "at-import"]})
    host = load_extensions(all_kinds, store=store)
    assert host.get("good").status == DISABLED and not host.get("good").enabled
    assert host.get("at-import").status == DISABLED  # not imported, so it cannot fail
    assert host.before_generate(GenerationRequest(prompt="cat")).prompt == "cat"


def test_disable_all(all_kinds, store):
    host = load_extensions(all_kinds, store=store, disable_all=True)
    assert {e.status for e in host.extensions} == {DISABLED}


def test_an_extension_without_api_version_or_setup_is_refused(tmp_path):
    write_extension(tmp_path, "no-version", "def setup(api):\n    pass\n")
    write_extension(tmp_path, "no-setup", "API_VERSION = 1\n")
    host = load_extensions(tmp_path)
    assert host.get("no-version").status == REFUSED and "declares no API_VERSION" in host.get("no-version").error
    assert host.get("no-setup").status == REFUSED and "setup(api)" in host.get("no-setup").error


def test_an_extension_can_import_its_own_modules(tmp_path):
    write_extension(tmp_path, "with-helper", """
        from . import helper
        API_VERSION = 1
        def setup(api):
            api.add_setting("answer", helper.ANSWER)
    """, files={"helper.py": "ANSWER = 42\n"})
    host = load_extensions(tmp_path)
    assert host.get("with-helper").api.settings.get("answer") == 42


def test_requirements_that_are_met_pass(tmp_path):
    folder = write_extension(tmp_path, "ok-reqs", GOOD, requirements="Pillow>=1.0\npackaging\n")
    assert missing_requirements(folder) == []
    folder = write_extension(tmp_path, "too-new", GOOD, requirements="Pillow>=999\n")
    [problem] = missing_requirements(folder)
    assert "Pillow>=999" in problem and "is installed" in problem


def test_preprocessors_are_registered_only_after_a_successful_setup(tmp_path):
    write_extension(tmp_path, "pre", """
        API_VERSION = 1
        def setup(api):
            api.register_preprocessor("invert", lambda image, resolution, **params: image.point(lambda v: 255 - v))
    """)
    write_extension(tmp_path, "pre-then-fail", """
        API_VERSION = 1
        def setup(api):
            api.register_preprocessor("half", lambda image, resolution: image)
            raise RuntimeError("after registering")
    """)
    registry = PreprocessorRegistry()
    load_extensions(tmp_path, preprocessors=registry)
    assert registry.names() == ["invert"]
    from PIL import Image

    out = registry.run("INVERT", Image.new("L", (2, 2), 10), 512)
    assert out.getpixel((0, 0)) == (245, 245, 245)  # control maps come out RGB
    assert registry.get("invert").source == "extension pre"


def test_a_sampler_with_a_taken_name_fails_its_extension_only(tmp_path):
    write_extension(tmp_path, "sampler", """
        from diffusers import EulerDiscreteScheduler
        API_VERSION = 1
        def setup(api):
            api.register_sampler("Euler (ext)", EulerDiscreteScheduler, {"use_karras_sigmas": True}, aliases=["k_euler_ext"])
    """)
    write_extension(tmp_path, "sampler-clash", """
        from diffusers import EulerDiscreteScheduler
        API_VERSION = 1
        def setup(api):
            api.register_sampler("Euler", EulerDiscreteScheduler)
    """)
    from modules.engine.samplers import SamplerRegistry

    registry = SamplerRegistry.default()
    host = load_extensions(tmp_path, samplers=registry)
    assert registry.resolve("k_euler_ext").name == "Euler (ext)"
    assert host.get("sampler-clash").status == FAILED and "already used" in host.get("sampler-clash").error


def test_values_reads_the_extension_section_and_the_a1111_args_form(tmp_path):
    api = ExtensionApi("demo", tmp_path)
    assert api.values(GenerationRequest(extra={"demo": {"a": 1}})) == {"a": 1}
    assert api.values(GenerationRequest(extra={"demo": {"args": {"a": 2}}})) == {"a": 2}
    assert api.values(GenerationRequest(extra={"other": {"a": 3}})) == {}


def test_route_paths_may_not_escape_the_extension_prefix(tmp_path):
    api = ExtensionApi("demo", tmp_path)
    with pytest.raises(ValueError, match=r"'\.\.'"):
        api.add_route("../sdapi/v1/txt2img", lambda: {})


def test_install_is_offered_only_on_localhost_or_when_enabled():
    assert install_allowed(listen=False, insecure_access=False)[0]
    allowed, reason = install_allowed(listen=True, insecure_access=False)
    assert not allowed and "--enable-insecure-extension-access" in reason
    assert install_allowed(listen=True, insecure_access=True)[0]


@pytest.mark.parametrize("listen,insecure_access", [(False, False), (True, False), (True, True)])
def test_install_needs_an_admin_wherever_the_server_listens(listen, insecure_access):
    """Behind a reverse proxy the server listens on localhost, yet every account reaches it: a plain user never
    installs (the code runs at the next start); `admin` is True for an admin, and for the local user when there
    are no accounts."""
    allowed, reason = install_allowed(listen=listen, insecure_access=insecure_access, admin=False)
    assert not allowed and "Only an admin can install extensions" in reason
    assert install_allowed(listen=listen, insecure_access=insecure_access, admin=True)[0] == (
        not listen or insecure_access)


def test_a_setting_check_refuses_a_value_before_it_is_saved(tmp_path):
    store = SettingsStore(tmp_path / "settings.json", {})
    api = ExtensionApi("files", tmp_path, ExtensionSettings(store, "files"))

    def plain_name(value):
        if "/" in str(value):
            raise ValueError("give a file name, not a path")

    api.add_setting("file", "", check=plain_name)
    with pytest.raises(ValueError, match="Setting 'file': give a file name, not a path"):
        api.settings.update({"file": "/tmp/x.pth"})
    assert api.settings.get("file") == "" and not (tmp_path / "settings.json").exists()
    api.settings.update({"file": "mine.csv"})
    api.settings.update({"file": ""})  # the default is always allowed
    assert store.get("extension_settings") == {"files": {"file": ""}}


def test_install_refuses_when_not_allowed_and_bad_urls(tmp_path):
    def no_git(*args, **kwargs):
        raise AssertionError("git must not run")

    with pytest.raises(ValueError, match="not allowed"):
        install_from_git("https://example.com/a/b.git", tmp_path, allowed=False, run=no_git)
    with pytest.raises(ValueError, match="not a git URL"):
        install_from_git("--upload-pack=evil", tmp_path, allowed=True, run=no_git)
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        install_from_git("https://example.com/a/b.git", tmp_path, allowed=True, run=no_git)


def test_install_reports_a_failed_clone(tmp_path):
    import subprocess

    calls = []

    def failing(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 128, "", "fatal: unable to access 'https://example.com/': "
                                                             "Could not resolve host: example.com\n")

    with pytest.raises(ValueError, match="git clone failed: fatal: unable to access"):
        install_from_git("https://example.com/owner/my-ext.git", tmp_path, allowed=True, run=failing)
    assert calls[0][:4] == ["git", "clone", "--depth", "1"] and calls[0][-1] == str(tmp_path / "my-ext")
