"""Finds the extensions in extensions/, loads each inside its own error boundary, and runs their hooks.

Nothing an extension does can stop the app: an exception at import, in setup or in a hook is logged with the
extension's name and traceback, the extension is marked failed (its hooks stop running), and the caller goes
on. Requirements are checked, never installed. See modules/extension_api.py for what extensions can do.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import time
import tomllib
import traceback
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules import extension_api as ext_api
from modules.core.requests import GenerationRequest, RequestError
from modules.core.settings import SettingsStore
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.engine.samplers import SamplerRegistry
from modules.extension_api import SCRIPT_KEY, ExtensionApi, ExtensionSettings, Script, ScriptContext

log = logging.getLogger(__name__)

ENTRY = "extension.py"
METADATA = "extension.toml"
REQUIREMENTS = "requirements.txt"
DISABLED_KEY = "disabled_extensions"  # settings-file key: names of extensions not to load at the next start
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESERVED_NAMES = {SCRIPT_KEY}
PACKAGE_PREFIX = "webui_ext_"

LOADED, DISABLED, FAILED, REFUSED, MISSING = "loaded", "disabled", "failed", "refused", "missing requirements"


@dataclass
class Extension:
    name: str
    folder: Path
    metadata: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    status: str = DISABLED
    error: str = ""  # one line for the table
    details: str = ""  # the traceback, for the log and the tab's details
    api_version: int | None = None
    load_ms: float = 0.0
    api: ExtensionApi | None = None

    @property
    def active(self) -> bool:
        return self.status == LOADED and self.api is not None


# ---------------------------------------------------------------------------------------------- discovery
def discover(folder: Path) -> list[Path]:
    """Extension folders (those with an extension.py), by name; hidden and _-prefixed folders are skipped."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                   and (p / ENTRY).is_file()), key=lambda p: p.name.casefold())


def read_metadata(folder: Path) -> dict[str, str]:
    """extension.toml: name, description, version, author, url (all optional strings)."""
    path = folder / METADATA
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)  # a malformed file raises: the loader reports it as this extension's error
    return {k: str(data[k]) for k in ("name", "description", "version", "author", "url") if k in data}


def missing_requirements(folder: Path) -> list[str]:
    """One message per unmet line of requirements.txt, naming the package and the pip command."""
    path = folder / REQUIREMENTS
    if not path.is_file():
        return []
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue  # blank, comment, or pip options (-r, --index-url): not a package to check
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"requirements.txt line {text!r} is not a valid requirement ({exc}).")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"needs the package {requirement.name!r}, which is not installed: "
                            f"pip install \"{requirement}\"")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"needs {requirement}, but {requirement.name} {installed} is installed: "
                            f"pip install \"{requirement}\"")
    return problems


def _import_entry(name: str, folder: Path) -> types.ModuleType:
    """Import extension.py as `<package>.extension`, its folder being the package, so the extension can use
    relative imports of its own modules. Each load runs the code afresh."""
    package = PACKAGE_PREFIX + re.sub(r"\W", "_", name)
    for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        del sys.modules[key]
    pkg = types.ModuleType(package)
    pkg.__path__ = [str(folder)]  # type: ignore[attr-defined]
    pkg.__package__ = package
    sys.modules[package] = pkg
    spec = importlib.util.spec_from_file_location(f"{package}.extension", folder / ENTRY)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {folder / ENTRY}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def import_package(folder: Path) -> str:
    """Import an extension (without setting it up) and return its package name, for tests of its modules."""
    _import_entry(folder.name, folder)
    return PACKAGE_PREFIX + re.sub(r"\W", "_", folder.name)


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


# ---------------------------------------------------------------------------------------------- loading
def load_one(folder: Path, *, store: SettingsStore | None = None, samplers: SamplerRegistry | None = None,
             preprocessors: PreprocessorRegistry | None = None) -> Extension:
    """Import and set up one extension; never raises. Its samplers/preprocessors are registered only if setup
    succeeded."""
    ext = Extension(name=folder.name, folder=folder)
    started = time.perf_counter()
    try:
        if not NAME.match(ext.name) or ext.name.casefold() in RESERVED_NAMES:
            return _refuse(ext, f"the folder name {ext.name!r} is not a valid extension name (letters, digits, "
                                "'-' and '_'; not 'script').")
        try:
            ext.metadata = read_metadata(folder)
        except (OSError, ValueError) as exc:
            log.warning("extension %s: ignoring its %s: %s", ext.name, METADATA, exc)
        missing = missing_requirements(folder)
        if missing:
            ext.status, ext.error = MISSING, " ".join(missing)
            log.warning("extension %s is disabled: %s", ext.name, ext.error)
            return ext
        module = _import_entry(ext.name, folder)
        version = getattr(module, "API_VERSION", None)
        ext.api_version = version if isinstance(version, int) else None
        if version not in ext_api.SUPPORTED_API_VERSIONS:
            supported = ", ".join(str(v) for v in sorted(ext_api.SUPPORTED_API_VERSIONS))
            what = ("declares no API_VERSION" if version is None
                    else f"was written for extension API version {version!r}")
            return _refuse(ext, f"{what}; this WebUI supports version {supported}. Use a release of the extension "
                                f"made for API {supported}, or update the WebUI.")
        setup = getattr(module, "setup", None)
        if not callable(setup):
            return _refuse(ext, f"{ENTRY} has no setup(api) function.")
        api = ExtensionApi(ext.name, folder, ExtensionSettings(store, ext.name))
        setup(api)
        _apply_registries(ext.name, api, samplers, preprocessors)
        ext.api, ext.status = api, LOADED
    except Exception as exc:  # the boundary: nothing an extension raises at import or setup stops the app
        _fail(ext, "loading", exc)
    finally:
        ext.load_ms = (time.perf_counter() - started) * 1000
    if ext.status == LOADED:
        log.info("extension %s loaded in %.1f ms", ext.name, ext.load_ms)
    return ext


def _apply_registries(name: str, api: ExtensionApi, samplers: SamplerRegistry | None,
                      preprocessors: PreprocessorRegistry | None) -> None:
    wanted = api.contributions
    if wanted.samplers:
        if samplers is None:
            raise RuntimeError("registers a sampler, but no sampler registry was given to the loader")
        from modules.engine.samplers import SamplerSpec

        specs = [SamplerSpec(**kwargs) for kwargs in wanted.samplers]  # all checked before any is registered
        for spec in specs:
            samplers.register(spec)
    if wanted.preprocessors:
        if preprocessors is None:
            raise RuntimeError("registers a preprocessor, but no preprocessor registry was given to the loader")
        for pre_name, fn in wanted.preprocessors:
            preprocessors.register(pre_name, fn, source=f"extension {name}")


def _refuse(ext: Extension, message: str) -> Extension:
    ext.status, ext.error = REFUSED, message
    log.error("extension %s was not loaded: %s", ext.name, message)
    return ext


class ExtensionValueError(ValueError):
    """An extension's hook failed on the values one request sent it: that request fails, with this message."""


def _fail(ext: Extension, where: str, exc: BaseException) -> None:
    ext.status, ext.error = FAILED, f"{where}: {_first_line(exc)}"
    ext.details = "".join(traceback.format_exception(exc))
    log.error("extension %s failed while %s:\n%s", ext.name, where, ext.details.rstrip())


def load_extensions(folder: Path, *, store: SettingsStore | None = None, samplers: SamplerRegistry | None = None,
                    preprocessors: PreprocessorRegistry | None = None,
                    disable_all: bool = False) -> ExtensionHost:
    """Every extension of `folder`: loaded, or listed with why not (disabled, refused, failed...)."""
    disabled = set(store.get(DISABLED_KEY) or []) if store is not None else set()
    found = []
    for path in discover(folder):
        if disable_all or path.name in disabled:
            ext = Extension(name=path.name, folder=path, enabled=False, status=DISABLED)
            try:
                ext.metadata = read_metadata(path)
            except (OSError, ValueError):
                pass
            found.append(ext)
            continue
        found.append(load_one(path, store=store, samplers=samplers, preprocessors=preprocessors))
    return ExtensionHost(found, folder=folder, store=store)


def set_enabled(store: SettingsStore, enabled: Iterable[str], all_names: Iterable[str]) -> list[str]:
    """Persist which extensions load at the next start; returns the disabled names."""
    on = set(enabled)
    disabled = sorted(n for n in all_names if n not in on)
    store.update({DISABLED_KEY: disabled})
    return disabled


# ---------------------------------------------------------------------------------------------- running hooks
class ExtensionHost:
    """The loaded extensions and the calls into them, each inside the boundary."""

    def __init__(self, extensions: list[Extension] | None = None, folder: Path | None = None, store: SettingsStore | None = None
                 ) -> None:
        self.extensions = list(extensions or [])
        self.folder = folder
        self.store = store

    def get(self, name: str) -> Extension | None:
        return next((e for e in self.extensions if e.name == name), None)

    def active(self) -> list[Extension]:
        return [e for e in self.extensions if e.active]

    def _hooks(self, kind: str) -> list[tuple[Extension, Callable[..., Any]]]:
        return [(e, fn) for e in self.active() for fn in e.api.contributions.hooks[kind]]  # type: ignore[union-attr]

    def guarded(self, ext: Extension, what: str, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """Call fn; (True, its value), or (False, None) after marking the extension failed."""
        try:
            return True, fn(*args)
        except Exception as exc:  # the boundary for hooks: the job goes on without this extension
            _fail(ext, what, exc)
            ext.api = None  # its state is unknown now: no more of its hooks until the next start
            return False, None

    def has(self, kind: str) -> bool:
        return bool(self._hooks(kind))

    def _call_all(self, kind: str, *args: Any) -> list[Any]:
        """Call every `kind` hook of the active extensions; the values of those that succeeded."""
        values = []
        for ext, fn in self._hooks(kind):
            if ext.active:  # an earlier hook of the same extension may have failed during this call
                ok, value = self.guarded(ext, f"in its {kind} hook", fn, *args)
                if ok:
                    values.append((ext, value))
        return values

    def _for_request(self, ext: Extension, kind: str, fn: Callable[..., Any], request: Any, *args: Any
                     ) -> tuple[bool, Any]:
        """A request-scoped hook. When the request carries values for this extension and the hook fails, the
        values are the likely cause: this request fails with a message naming them, and the extension stays on
        for everyone else. A hook failing on a request that sent it nothing is a broken extension: it is
        marked failed (guarded) and the job goes on without it."""
        values = (getattr(request, "extra", None) or {}).get(ext.name)
        if values is None:
            return self.guarded(ext, f"in its {kind} hook", fn, *args)
        try:
            return True, fn(*args)
        except Exception as exc:
            log.warning("extension %s failed in its %s hook on this request's values %r", ext.name, kind,
                        values, exc_info=True)
            raise ExtensionValueError(
                f"The {ext.name} extension could not use the values sent for it ({_first_line(exc)}). Check "
                f"alwayson_scripts[{ext.name!r}] (or the extension's section of the form); the extension itself "
                f"stays on.") from exc

    def before_generate(self, request: GenerationRequest) -> GenerationRequest:
        for ext, fn in self._hooks("before_generate"):
            if not ext.active:
                continue
            ok, changed = self._for_request(ext, "before_generate", fn, request, request)
            if not ok or changed is None:
                continue
            if isinstance(changed, GenerationRequest):
                request = changed
            else:
                self.guarded(ext, "in its before_generate hook", _raise_type, changed)
        return request

    def wrap_on_step(self, downstream: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        if not self.has("on_step"):
            return downstream

        def on_step(info: Any) -> None:
            if downstream is not None:
                downstream(info)
            self._call_all("on_step", info)

        return on_step

    def after_generate(self, result: Any) -> None:
        for ext, fn in self._hooks("after_generate"):
            if ext.active:
                self._for_request(ext, "after_generate", fn, result.request, result)

    def image_saved(self, path: str, image: Any, infotext: str) -> None:
        self._call_all("image_saved", path, image, infotext)

    def model_loaded(self, model: Any) -> None:
        self._call_all("model_loaded", model)

    def app_started(self, url: str) -> None:
        self._call_all("app_started", url)

    # -------------------------------------------------------------- scripts, tabs, sections, routes
    def scripts(self) -> list[Script]:
        return [s for e in self.active() for s in e.api.contributions.scripts]  # type: ignore[union-attr]

    def script_for(self, request: GenerationRequest) -> Script | None:
        """The script a request asks for (by extension name or title), None for an ordinary run."""
        script = self.script_named((request.extra or {}).get(SCRIPT_KEY))
        panel = "txt2img" if request.mode == "txt2img" else "img2img"
        if script is not None and panel not in script.panels:
            raise RequestError(f"The script {script.title!r} works in {' and '.join(script.panels)} only, not in "
                               f"{panel}.")
        return script

    def script_named(self, wanted: Any) -> Script | None:
        """A script by extension name or title, case-insensitive as A1111 matches titles ("sd upscale");
        None for no script ("", "None")."""
        if not wanted or str(wanted).strip().casefold() in ("none", ""):
            return None
        key = str(wanted).strip().casefold()
        for script in self.scripts():
            if key in (script.name.casefold(), script.title.casefold()):
                return script
        names = ", ".join(f"{s.name} ({s.title})" for s in self.scripts()) or "none is loaded"
        raise RequestError(f"Unknown script {wanted!r}. Available scripts: {names}.")

    def contributions(self, kind: str) -> list[tuple[Extension, Any]]:
        """(extension, item) for every tab / section / route of the loaded extensions."""
        return [(e, item) for e in self.active() for item in getattr(e.api.contributions, kind)]  # type: ignore


def _raise_type(value: Any) -> None:
    raise TypeError(f"before_generate must return a GenerationRequest or None, not {type(value).__name__}")


def run_script(host: ExtensionHost, script: Script, request: GenerationRequest, ctx: ScriptContext) -> Any:
    """Run a script as the job. Bad values (ValueError) are the user's to fix; anything else marks the
    extension failed and fails this job with a message naming it."""
    ext = host.get(script.name)
    try:
        return script.run(request, ctx)
    except (ValueError, LookupError):
        raise
    except Exception as exc:
        if ext is not None:
            _fail(ext, "running its script", exc)
            ext.api = None
        raise RuntimeError(f"The script {script.title!r} of extension {script.name!r} failed: {_first_line(exc)}. "
                           "See the Extensions tab.") from exc


# ---------------------------------------------------------------------------------------------- installing
GIT_URL = re.compile(r"^(https://|http://|ssh://|git://|git@)[^\s]+$")
CLONE_TIMEOUT = 300


def install_allowed(listen: bool, insecure_access: bool, admin: bool = True) -> tuple[bool, str]:
    """Installing runs someone else's code here: offered on a local server, or when explicitly enabled; and, where
    there are accounts, only to an admin (`admin`: the caller is one, or there are no accounts), whatever --listen
    says: behind a reverse proxy the server listens on localhost, yet everyone who can log in reaches it."""
    if not admin:
        return False, ("Only an admin can install extensions: an extension runs its code on this server, for "
                       "everyone, from the next start.")
    if not listen:
        return True, "This server listens on localhost only."
    if insecure_access:
        return True, "Allowed by --enable-insecure-extension-access."
    return False, ("Installing extensions is off because this server is reachable from the network (--listen). "
                   "Install them on the server's machine (git clone into extensions/), or restart with "
                   "--enable-insecure-extension-access to let admins install from here (without accounts: anyone "
                   "who reaches the server).")


def name_from_url(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git")


def install_from_git(url: str, folder: Path, *, allowed: bool,
                     run: Callable[..., Any] | None = None) -> str:
    """git clone url into folder/<repo name>; returns what happened. Raises ValueError with the reason on any
    refusal or failure. The new extension loads at the next start."""
    import subprocess

    if not allowed:
        raise ValueError("Installing extensions is not allowed on this server.")
    url = (url or "").strip()
    if not GIT_URL.match(url):
        raise ValueError(f"{url!r} is not a git URL: use https://host/owner/repo(.git) or git@host:owner/repo.git.")
    name = name_from_url(url)
    if not NAME.match(name) or name.casefold() in RESERVED_NAMES:
        raise ValueError(f"The repository name {name!r} cannot be an extension folder name.")
    target = folder / name
    if target.exists():
        raise ValueError(f"{target} already exists: remove it first to reinstall.")
    folder.mkdir(parents=True, exist_ok=True)
    run = run or subprocess.run
    command = ["git", "clone", "--depth", "1", "--", url, str(target)]
    try:
        done = run(command, capture_output=True, text=True, timeout=CLONE_TIMEOUT,
                   env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    except FileNotFoundError:
        raise ValueError("git is not installed on this server.") from None
    except subprocess.TimeoutExpired:
        raise ValueError(f"git clone did not finish within {CLONE_TIMEOUT} s.") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout or "").strip().splitlines()
        raise ValueError(f"git clone failed: {reason[-1] if reason else f'exit code {done.returncode}'}")
    if not (target / ENTRY).is_file():
        return (f"Cloned into {target}, but it has no {ENTRY}: it is not an extension for this WebUI "
                "(A1111 extensions do not work here). Remove the folder.")
    return f"Installed {name} into {target}. It loads at the next start."
