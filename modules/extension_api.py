"""The extension API, version 1: the only module of this app an extension imports.

An extension is a folder `extensions/<name>/` with an entry module `extension.py`:

    from modules import extension_api as ext

    API_VERSION = 1

    def setup(api: ext.ExtensionApi) -> None:
        @api.before_generate
        def shout(request):
            return ext.replace(request, prompt=request.prompt.upper())

Everything an extension may do goes through the `ExtensionApi` it is given; it records what the extension
contributes and the loader (`modules.service.extensions`) applies it once `setup` has returned without error, so a
setup that fails half-way leaves nothing behind. Names here are promises: once released, version 1 keeps them.
See docs/EXTENSIONS.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.core.infotext import format_infotext, parse_infotext, quote
from modules.core.requests import GenerationRequest, LoraRef, RequestError
from modules.core.settings import SettingsStore
from modules.engine.controlnet.preprocessors import Detector as Preprocessor
from modules.engine.controlnet.preprocessors import PreprocessorRegistry

if TYPE_CHECKING:  # the core's result types import torch; extensions get them at run time from hooks
    from modules.core.results import GenerationResult, StepInfo

__all__ = [
    "API_VERSION", "SUPPORTED_API_VERSIONS", "HOOKS", "SCRIPT_KEY", "ExtensionApi", "ExtensionSettings",
    "GenerationRequest", "LoraRef", "PreprocessorRegistry", "RequestError", "ScriptContext", "SectionContext",
    "TabContext", "add_image", "add_infotext_fields", "format_infotext", "parse_infotext", "replace",
]

API_VERSION = 1
SUPPORTED_API_VERSIONS = frozenset({1})
HOOKS = ("before_generate", "on_step", "after_generate", "image_saved", "model_loaded", "app_started")
# request.extra[SCRIPT_KEY] names the script (alternative run mode) a request runs with; no extension may
# take this name.
SCRIPT_KEY = "script"
PANELS = ("txt2img", "img2img")


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    label: str = ""
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], None] | None = None  # raises ValueError, saying what is allowed, to refuse a value


class ExtensionSettings:
    """An extension's own settings, stored in the settings file under `extension_settings.<name>`."""

    STORE_KEY = "extension_settings"

    def __init__(self, store: SettingsStore | None, name: str) -> None:
        self._store = store  # None (tests, tools): values live in memory
        self._name = name
        self.defaults: dict[str, Any] = {}
        self.declared: dict[str, Setting] = {}
        self._memory: dict[str, Any] = {}

    def _saved(self) -> dict[str, Any]:
        if self._store is None:
            return self._memory
        everything = self._store.get(self.STORE_KEY) or {}
        mine = everything.get(self._name) if isinstance(everything, dict) else None
        return dict(mine) if isinstance(mine, dict) else {}

    def declare(self, setting: Setting) -> None:
        if setting.choices is not None and setting.default not in setting.choices:
            raise ValueError(f"Setting {setting.key!r}: default {setting.default!r} is not one of its choices.")
        self.declared[setting.key] = setting
        self.defaults[setting.key] = setting.default

    def get(self, key: str) -> Any:
        if key not in self.defaults:
            raise KeyError(f"Setting {key!r} was never declared with api.add_setting; declared: "
                           f"{', '.join(self.defaults) or 'none'}.")
        return self._saved().get(key, self.defaults[key])

    def all(self) -> dict[str, Any]:
        return {**self.defaults, **{k: v for k, v in self._saved().items() if k in self.defaults}}

    def update(self, changes: dict[str, Any]) -> None:
        unknown = sorted(set(changes) - set(self.defaults))
        if unknown:
            raise KeyError(f"Unknown setting(s) {', '.join(unknown)} of extension {self._name!r}.")
        for key, value in changes.items():
            choices = self.declared[key].choices
            if choices is not None and value not in choices:
                raise ValueError(f"Setting {key!r} must be one of {list(choices)}, not {value!r}.")
            check = self.declared[key].check
            if check is not None and value != self.defaults[key]:
                try:
                    check(value)
                except ValueError as exc:
                    raise ValueError(f"Setting {key!r}: {exc}") from None
        values = {**self._saved(), **changes}
        if self._store is None:
            self._memory = values
            return
        everything = dict(self._store.get(self.STORE_KEY) or {})
        everything[self._name] = values
        self._store.update({self.STORE_KEY: everything})


# ---------------------------------------------------------------------------------------------- contexts
@dataclass
class TabContext:
    """What a tab builder may use: its own settings and the app's services that are safe to share.

    What changes the server for everyone (a shared file, a setting) is an admin's, or the local user's where there
    are no accounts: wrap such a handler in `admin_only(handler, "change the styles")` (it refuses anyone else, and
    its wrapper is what goes to `.click`), and pass the components that do it to `show_to_admins(...)` (hidden
    from the others; a read-only note in `others` is shown to them instead). Hiding is for the eye; the check in
    admin_only is what protects."""

    name: str
    settings: ExtensionSettings
    sampler_names: Callable[[], list[str]]
    checkpoint_names: Callable[[], list[str]]
    submit_and_wait: Callable[[GenerationRequest, str], Any]  # (request, user) -> GenerationResult
    admin_only: Callable[[Callable[..., Any], str], Callable[..., Any]]  # (handler, what it does) -> handler
    show_to_admins: Callable[..., None]  # (components, others=()) -> None


@dataclass
class SectionContext:
    """What a txt2img/img2img section builder gets. `prompt`/`negative_prompt` are the panel's components,
    for buttons that edit them; the builder returns {key: component}, read at Generate into
    request.extra[<extension name>][key]."""

    name: str
    panel: str  # "txt2img" or "img2img"
    settings: ExtensionSettings
    prompt: Any = None
    negative_prompt: Any = None
    upscaler_names: Callable[[], list[str]] = list  # the server's pixel upscalers, A1111's order ("None" first)


@dataclass
class ScriptContext:
    """What a script's run(request, ctx) gets. `process` runs one ordinary generation (hooks, saving) and
    returns its result; `save` saves an extra picture (e.g. a grid) and returns its path or None."""

    process: Callable[[GenerationRequest], GenerationResult]
    save: Callable[[Image.Image, int, str, str], str | None]  # (image, seed, infotext, kind) -> path
    interrupted: Callable[[], bool]
    sampler_names: Callable[[], list[str]]
    checkpoint_names: Callable[[], list[str]]
    # generate(request, part=(index, count)): one generation whose pictures are neither saved nor indexed (hooks
    # still run), for the parts of a picture the script assembles and saves itself, as SD upscale's tiles;
    # `part` makes the progress bar count the parts as one job. None where the host cannot offer it.
    generate: Callable[..., GenerationResult] | None = None
    upscaler_names: Callable[[], list[str]] = list  # the server's pixel upscalers, A1111's order ("None" first)
    # (image, upscaler name, width, height) -> the picture at exactly that size through that upscaler.
    upscale_to: Callable[[Image.Image, str, int, int], Image.Image] | None = None


# ---------------------------------------------------------------------------------------------- contributions
@dataclass(frozen=True)
class Tab:
    title: str
    builder: Callable[[TabContext], None]


@dataclass(frozen=True)
class Section:
    title: str
    builder: Callable[[SectionContext], dict[str, Any]]
    panels: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    path: str  # below /ext/<name>/
    endpoint: Callable[..., Any]
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Script:
    name: str  # the extension's name: what request.extra[SCRIPT_KEY] holds
    title: str
    run: Callable[[GenerationRequest, ScriptContext], GenerationResult]
    check: Callable[[GenerationRequest, ScriptContext], None] | None = None
    # The names of A1111's positional `script_args`, in order: the API turns script_args into the script's
    # values by these names ("_" or a leading "_" skips a position). Empty: values come by name only.
    args: tuple[str, ...] = ()
    panels: tuple[str, ...] = PANELS  # where the Script dropdown offers it (A1111's Script.show)


@dataclass
class Contributions:
    """Everything one extension's setup asked for; applied by the loader only if setup succeeded."""

    hooks: dict[str, list[Callable[..., Any]]] = field(default_factory=lambda: {h: [] for h in HOOKS})
    tabs: list[Tab] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    samplers: list[dict[str, Any]] = field(default_factory=list)  # SamplerSpec keyword arguments
    preprocessors: list[tuple[str, Preprocessor]] = field(default_factory=list)


def _check_callable(what: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be a function, got {type(fn).__name__}.")


class ExtensionApi:
    """Given to `setup(api)`. Hook registrations work as decorators and return the function unchanged."""

    version = API_VERSION

    def __init__(self, name: str, folder: Path, settings: ExtensionSettings | None = None) -> None:
        self.name = name
        self.folder = Path(folder)
        self.log = logging.getLogger(f"extensions.{name}")
        self.settings = settings or ExtensionSettings(None, name)
        self.contributions = Contributions()

    # -------------------------------------------------------------- hooks
    def _hook(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        _check_callable(f"The {kind} hook", fn)
        self.contributions.hooks[kind].append(fn)
        return fn

    def before_generate(self, fn: Callable[[GenerationRequest], GenerationRequest | None]) -> Callable:
        """fn(request) -> a changed request (dataclasses.replace) or None to keep it. Runs on the job's thread."""
        return self._hook("before_generate", fn)

    def on_step(self, fn: Callable[[StepInfo], None]) -> Callable:
        """fn(step_info) after every sampling step: .step, .steps, .batch_index, .preview (a PIL image or None)."""
        return self._hook("on_step", fn)

    def after_generate(self, fn: Callable[[GenerationResult], None]) -> Callable:
        """fn(result) before saving: may add pictures (add_image) or infotext fields (add_infotext_fields)."""
        return self._hook("after_generate", fn)

    def image_saved(self, fn: Callable[[str, Image.Image, str], None]) -> Callable:
        """fn(path, image, infotext) after each picture is written."""
        return self._hook("image_saved", fn)

    def model_loaded(self, fn: Callable[[Any], None]) -> Callable:
        """fn(model) after a checkpoint is loaded into RAM: .info.name, .info.family, .pipe."""
        return self._hook("model_loaded", fn)

    def app_started(self, fn: Callable[[str], None]) -> Callable:
        """fn(url) once the UI and the API are built, just before the server starts answering."""
        return self._hook("app_started", fn)

    # -------------------------------------------------------------- UI, routes, settings
    def add_tab(self, title: str, builder: Callable[[TabContext], None]) -> None:
        """builder(ctx) is called inside a new top-level tab and builds its Gradio components."""
        _check_callable("A tab builder", builder)
        self.contributions.tabs.append(Tab(str(title), builder))

    def add_section(self, title: str, builder: Callable[[SectionContext], dict[str, Any]],
                    panels: Sequence[str] = PANELS) -> None:
        """builder(ctx) -> {key: component}; their values reach hooks as request.extra[<name>][key]."""
        _check_callable("A section builder", builder)
        unknown = [p for p in panels if p not in PANELS]
        if unknown:
            raise ValueError(f"Unknown panel(s) {unknown}; sections go in {', '.join(PANELS)}.")
        self.contributions.sections.append(Section(str(title), builder, tuple(panels)))

    def add_route(self, path: str, endpoint: Callable[..., Any], methods: Sequence[str] = ("GET",)) -> None:
        """Serve endpoint at /ext/<name>/<path>, behind the app's login. Endpoints are FastAPI-style functions
        (parameters from the query or a JSON body, return JSON-able data)."""
        _check_callable("A route endpoint", endpoint)
        clean = "/" + str(path).strip("/")
        if ".." in clean.split("/"):
            raise ValueError(f"Route path {path!r} may not contain '..'.")
        self.contributions.routes.append(Route(clean, endpoint, tuple(m.upper() for m in methods)))

    def add_setting(self, key: str, default: Any, label: str = "", choices: Sequence[Any] | None = None,
                    check: Callable[[Any], None] | None = None) -> None:
        """A setting with its default; read it with api.settings.get(key). Persisted under this extension's name.
        `check(value)` raises ValueError (its message says what is allowed) to refuse a value before it is saved:
        a setting naming a file must never be a free path on the server."""
        if check is not None:
            _check_callable("A setting's check", check)
        self.settings.declare(Setting(str(key), default, label or str(key),
                                      tuple(choices) if choices is not None else None, check))

    # -------------------------------------------------------------- registries
    def register_sampler(self, name: str, scheduler_class: type, options: dict[str, Any] | None = None,
                         aliases: Sequence[str] = (), note: str = "") -> None:
        """A sampler (A1111-style name) run by a diffusers scheduler class with these config options."""
        self.contributions.samplers.append(dict(name=name, scheduler_class=scheduler_class, options=options or {},
                                                aliases=tuple(aliases), note=note or f"from extension {self.name}"))

    def register_preprocessor(self, name: str, fn: Preprocessor) -> None:
        """A ControlNet preprocessor: fn(image: PIL.Image, resolution: int, **params) -> PIL.Image."""
        _check_callable("A preprocessor", fn)
        self.contributions.preprocessors.append((str(name), fn))

    def register_script(self, title: str, run: Callable[[GenerationRequest, ScriptContext], Any],
                        check: Callable[[GenerationRequest, ScriptContext], None] | None = None, *,
                        args: Sequence[str] = (), panels: Sequence[str] = PANELS) -> None:
        """An alternative run mode, chosen per request by request.extra["script"] == <name> or <title>.
        run(request, ctx) returns a GenerationResult; check(request, ctx) raises ValueError for bad values before
        queueing. `args` names A1111's positional script_args for API clients; `panels` where it is offered."""
        _check_callable("A script's run", run)
        if check is not None:
            _check_callable("A script's check", check)
        if self.contributions.scripts:
            raise ValueError("An extension registers at most one script (it is chosen by the extension's name).")
        unknown = [p for p in panels if p not in PANELS]
        if unknown or not panels:
            raise ValueError(f"A script's panels must be some of {', '.join(PANELS)}; got {list(panels)}.")
        self.contributions.scripts.append(Script(self.name, str(title), run, check, tuple(str(a) for a in args),
                                                 tuple(panels)))

    # -------------------------------------------------------------- per-request values
    def values(self, request: GenerationRequest) -> dict[str, Any]:
        """This extension's values of a request: request.extra[<name>], also in A1111's {"args": {...}} form."""
        raw = (request.extra or {}).get(self.name)
        if isinstance(raw, dict) and set(raw) == {"args"} and isinstance(raw["args"], dict):
            raw = raw["args"]
        return dict(raw) if isinstance(raw, dict) else {}


# ---------------------------------------------------------------------------------------------- result helpers
def add_infotext_fields(result: GenerationResult, fields: dict[str, Any], index: int | None = None) -> None:
    """Add `Key: value` entries to the parameters line of every picture's infotext (or only picture `index`)."""
    if not fields:
        return
    addition = ", ".join(f"{key}: {quote(str(value))}" for key, value in fields.items())
    for i, text in enumerate(result.infotexts):
        if index is None or i == index:
            result.infotexts[i] = f"{text}, {addition}" if text else addition


def add_image(result: GenerationResult, image: Image.Image, infotext: str = "", seed: int | None = None) -> None:
    """Append a picture to a result; it is saved (and shown) with the others."""
    seed = seed if seed is not None else (result.seeds[-1] if result.seeds else 0)
    result.images.append(image)
    result.seeds.append(seed)
    result.subseeds.append(result.subseeds[-1] if result.subseeds else seed)
    result.infotexts.append(infotext)
