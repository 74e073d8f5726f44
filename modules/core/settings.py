"""Command-line flags and the persisted UI settings. Standard library only.

Flags keep A1111's names so people can reuse their launch scripts. Paths default to the repo's
`models/`, `outputs/` and `extensions/`; `--models-dir` pointed at an A1111/Forge `models/` folder
finds its `Stable-diffusion`, `Lora`, `VAE`, `ControlNet` subfolders (and `embeddings` beside or inside).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.core.aside import move_aside

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
MEMORY_POLICIES = ("auto", "full", "offload", "lowvram")
TEXT_ENCODER_FOLDERS = ("text_encoder", "text_encoders", "clip")  # Forge's, then ComfyUI's two names


@dataclass(frozen=True)
class Paths:
    checkpoints: Path
    loras: Path
    vaes: Path
    controlnets: Path
    embeddings: Path
    outputs: Path
    extensions: Path
    settings_file: Path
    cache_dir: Path
    annotators: Path = Path("models/annotators")  # controlnet-aux weights, by its file names
    upscalers: Path | None = None  # holds ESRGAN/, RealESRGAN/, SwinIR/, DAT/ (A1111's models/ folder)
    gfpgan: Path | None = None  # face restorers: GFPGAN and RestoreFormer files (A1111's models/GFPGAN)
    codeformer: Path | None = None  # CodeFormer files (A1111's models/Codeformer)
    wildcards: Path | None = None  # __name__ wildcard files (name.txt / .yaml); None = no wildcards folder
    vae_approx: Path | None = None  # tiny decoders (TAESD...), A1111's models/VAE-approx; None = none
    adetailer: Path | None = None  # detect and redraw: detection models (LBP cascade .xml files); None = built-in only
    # CLIP vision encoders (A1111/Forge/ComfyUI's models/clip_vision, the files IP-Adapter uses); None = none
    clip_vision: Path | None = None
    ipadapter: Path | None = None  # IP-Adapter files (ComfyUI/Forge's models/ipadapter); None = only ControlNet/'s
    # Separate text encoders: Forge's models/text_encoder, ComfyUI's text_encoders/ and clip/ (engine/models/module_files)
    text_encoders: tuple[Path, ...] = ()
    # Transformer single files of a ComfyUI models/ folder (diffusion_models/, unet/), listed with the checkpoints
    unets: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Settings:
    paths: Paths
    listen: bool = False
    port: int = 7860
    device: str = "auto"
    precision: str = "auto"
    models_in_ram: int = 2
    allow_downloads: bool = False
    max_size: int = 2048
    vae_tiling: str = "auto"  # auto: tile a VAE decode that would not fit in free memory; on / off force it
    memory: str = "auto"  # --memory: where weights live (engine/placement.py): auto | full | offload | lowvram
    compile: bool = False  # --compile: CUDA-only torch.compile of the denoiser (engine/compilation.py)
    batch_jobs: int = 1  # --batch-jobs: compatible jobs of different users drawn in one batch (service/batching.py)
    auth: str | None = None  # "name:password[:admin],..." from --auth
    auth_file: Path | None = None
    insecure_no_auth: bool = False
    enable_insecure_extension_access: bool = False  # offer installing extensions even when served on the LAN
    disable_all_extensions: bool = False
    tls_keyfile: Path | None = None  # HTTPS with the admin's certificate (A1111's flag names)
    tls_certfile: Path | None = None
    tls_self_signed: bool = False  # HTTPS with a certificate made once for this machine and kept
    allowed_hosts: tuple[str, ...] = ()  # more names an instance without accounts answers to
    workers: str | None = None  # --workers auto|N: generation workers on a local Ray runtime (None: in-process)
    ray_address: str | None = None  # --ray-address HOST:PORT: join a Ray cluster whose machines run workers
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.tls_self_signed or self.tls_certfile is not None

    @property
    def host(self) -> str:
        return "0.0.0.0" if self.listen else "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webui.py", description="Stable Diffusion WebUI: draw with diffusion models.")
    p.add_argument("--listen", action="store_true", help="serve on 0.0.0.0 so other machines on the LAN can connect")
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    p.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models",
                   help="base models folder, A1111 layout: Stable-diffusion/, Lora/, VAE/, ControlNet/, embeddings/")
    p.add_argument("--ckpt-dir", type=Path, help="checkpoints folder (default <models-dir>/Stable-diffusion)")
    p.add_argument("--lora-dir", type=Path, help="LoRA folder (default <models-dir>/Lora)")
    p.add_argument("--vae-dir", type=Path, help="VAE folder (default <models-dir>/VAE)")
    p.add_argument("--controlnet-dir", type=Path, help="ControlNet folder (default <models-dir>/ControlNet)")
    p.add_argument("--embeddings-dir", type=Path, help="textual inversion folder (default <models-dir>/embeddings)")
    p.add_argument("--wildcards-dir", type=Path,
                   help="wildcard files for __name__ in prompts (default wildcards/ beside <models-dir>)")
    p.add_argument("--gfpgan-models-path", type=Path, metavar="DIR",
                   help="GFPGAN and RestoreFormer face restorers (default <models-dir>/GFPGAN)")
    p.add_argument("--codeformer-models-path", type=Path, metavar="DIR",
                   help="CodeFormer face restorer (default <models-dir>/Codeformer)")
    p.add_argument("--outputs-dir", type=Path, default=REPO_ROOT / "outputs", help="where pictures are saved")
    p.add_argument("--extensions-dir", type=Path, default=REPO_ROOT / "extensions", help="extensions folder")
    p.add_argument("--settings-file", type=Path, default=REPO_ROOT / "settings.json", help="UI settings file (JSON)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default: best available)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="weights dtype (default: fp16/bf16 on GPUs, bf16 on CPUs that compute it natively, else fp32)")
    p.add_argument("--models-in-ram", type=int, default=2, metavar="N",
                   help="how many checkpoints to keep loaded (least recently used is evicted)")
    p.add_argument("--max-size", type=int, default=2048, help="largest width/height a request may ask for")
    p.add_argument("--vae-tiling", choices=("auto", "on", "off"), default="auto",
                   help="decode pictures in overlapping tiles: auto (when the decode would not fit in free memory, "
                        "or ran out of it), on (always), off (never)")
    p.add_argument("--memory", choices=MEMORY_POLICIES, default="auto",
                   help="where the weights live on a GPU: auto (chosen per model from its size and the free memory), "
                        "full (all on the GPU), offload (one component on the GPU at a time), lowvram (groups of "
                        "layers streamed to the GPU); on the CPU everything is in RAM whatever this says")
    p.add_argument("--compile", action="store_true",
                   help="CUDA GPUs only: torch.compile the denoiser's repeated blocks (the first picture of each "
                        "size waits for the compilation), channels_last for UNets, TF32 matmuls; refused on the CPU")
    p.add_argument("--batch-jobs", type=int, default=1, metavar="N",
                   help="draw up to N compatible queued txt2img jobs of different users (same checkpoint, size, "
                        "steps, sampler...) in one batch: more pictures per second on a GPU; 1 (default) is off")
    # A1111's flags for the same, so launch scripts keep working.
    p.add_argument("--medvram", dest="memory", action="store_const", const="offload", default=argparse.SUPPRESS,
                   help="A1111's name for --memory offload")
    p.add_argument("--lowvram", dest="memory", action="store_const", const="lowvram", default=argparse.SUPPRESS,
                   help="A1111's name for --memory lowvram")
    p.add_argument("--workers", type=_workers_flag, metavar="auto|N",
                   help="run generation on Ray workers: auto = one per visible GPU, N = N workers (on a CPU-only "
                        "box, N CPU workers sharing the cores). Without it jobs run in this process and Ray is not used")
    p.add_argument("--ray-address", metavar="HOST:PORT",
                   help="join the Ray cluster at HOST:PORT (started with `ray start --head`): every GPU of its "
                        "machines gets a worker; see README, 'A studio with several GPU machines'")
    p.add_argument("--allow-downloads", action="store_true",
                   help="let libraries reach the Hugging Face hub (off by default: the app runs offline)")
    p.add_argument("--auth", "--gradio-auth", dest="auth", metavar="USER:PASS[:admin],...",
                   help="accounts for the UI and the API, comma-separated; add ':admin' to make one an admin")
    p.add_argument("--auth-file", type=Path, metavar="FILE",
                   help="accounts file (name:role:hash lines); create entries with: python -m modules.service.accounts add NAME")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow --listen without accounts: anyone on the network can use (and stop) this server")
    p.add_argument("--enable-insecure-extension-access", action="store_true",
                   help="offer installing extensions from a git URL in the UI even with --listen (to admins when "
                        "there are accounts; without accounts, anyone who reaches the server could run code here)")
    p.add_argument("--disable-all-extensions", action="store_true", help="start without loading any extension")
    p.add_argument("--api", action="store_true", help="accepted for A1111 launch scripts; the API is always served")
    p.add_argument("--tls-keyfile", type=Path, metavar="FILE", help="serve HTTPS: the certificate's private key (PEM)")
    p.add_argument("--tls-certfile", type=Path, metavar="FILE", help="serve HTTPS: the certificate (PEM)")
    p.add_argument("--tls-self-signed", action="store_true",
                   help="serve HTTPS with a certificate made for this machine's names and kept in .cache/tls; the "
                        "log shows its fingerprint, for people to check when their browser asks")
    p.add_argument("--allowed-hosts", default="", metavar="NAME,...",
                   help="without accounts the server answers only to its own names (localhost, its host name and "
                        "addresses): add others here, e.g. a name your LAN's DNS gives it")
    return p


def _workers_flag(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"--workers takes 'auto' or a number of workers (1 or more), not {value!r}")


def _tls_files(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    if (args.tls_keyfile is None) != (args.tls_certfile is None):
        raise SystemExit("--tls-keyfile and --tls-certfile go together: give both (or --tls-self-signed).")
    if args.tls_self_signed and args.tls_certfile is not None:
        raise SystemExit("--tls-self-signed makes its own certificate: leave out --tls-keyfile/--tls-certfile, "
                         "or drop --tls-self-signed to serve yours.")
    if args.tls_certfile is None:
        return None, None
    return args.tls_keyfile.expanduser().resolve(), args.tls_certfile.expanduser().resolve()


def _embeddings_dir(models_dir: Path) -> Path:
    # A1111 keeps embeddings/ next to models/, Forge and others inside it: use whichever exists.
    inside, beside = models_dir / "embeddings", models_dir.parent / "embeddings"
    if not inside.exists() and beside.exists():
        return beside
    return inside


def _models_subdir(models_dir: Path, name: str) -> Path:
    """models_dir/name, or its differently cased twin when only that exists (Forge and guides write CodeFormer)."""
    exact = models_dir / name
    if not exact.exists() and models_dir.is_dir():
        for child in models_dir.iterdir():
            if child.name.casefold() == name.casefold() and child.is_dir():
                return child
    return exact


def _checkpoints_dir(models_dir: Path) -> Path:
    """A1111/Forge's Stable-diffusion/, or ComfyUI's checkpoints/ when only that exists (--models-dir at its models/)."""
    a1111, comfy = models_dir / "Stable-diffusion", models_dir / "checkpoints"
    return comfy if not a1111.exists() and comfy.is_dir() else a1111


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = build_parser().parse_args(argv)
    if args.models_in_ram < 1:
        raise SystemExit("--models-in-ram must be at least 1")
    models = args.models_dir.expanduser().resolve()
    tls_keyfile, tls_certfile = _tls_files(args)
    paths = Paths(
        checkpoints=(args.ckpt_dir or _checkpoints_dir(models)).expanduser().resolve(),
        loras=(args.lora_dir or models / "Lora").expanduser().resolve(),
        vaes=(args.vae_dir or _models_subdir(models, "VAE")).expanduser().resolve(),  # ComfyUI writes vae/
        controlnets=(args.controlnet_dir or models / "ControlNet").expanduser().resolve(),
        embeddings=(args.embeddings_dir or _embeddings_dir(models)).expanduser().resolve(),
        outputs=args.outputs_dir.expanduser().resolve(),
        extensions=args.extensions_dir.expanduser().resolve(),
        settings_file=args.settings_file.expanduser().resolve(),
        cache_dir=(REPO_ROOT / ".cache"),
        annotators=(models / "annotators").expanduser().resolve(),
        upscalers=models,
        gfpgan=(args.gfpgan_models_path or _models_subdir(models, "GFPGAN")).expanduser().resolve(),
        codeformer=(args.codeformer_models_path or _models_subdir(models, "Codeformer")).expanduser().resolve(),
        wildcards=(args.wildcards_dir or models.parent / "wildcards").expanduser().resolve(),
        vae_approx=_models_subdir(models, "VAE-approx").expanduser().resolve(),
        adetailer=(models / "adetailer").expanduser().resolve(),
        clip_vision=_models_subdir(models, "clip_vision").expanduser().resolve(),
        ipadapter=_models_subdir(models, "ipadapter").expanduser().resolve(),
        text_encoders=tuple(dict.fromkeys(_models_subdir(models, name).resolve() for name in TEXT_ENCODER_FOLDERS
                                          if name == "text_encoder" or _models_subdir(models, name).is_dir())),
        unets=tuple(_models_subdir(models, name).resolve() for name in ("diffusion_models", "unet")),
    )
    return Settings(paths=paths, listen=args.listen, port=args.port, device=args.device, precision=args.precision,
                    models_in_ram=args.models_in_ram, allow_downloads=args.allow_downloads, max_size=args.max_size,
                    vae_tiling=args.vae_tiling, memory=args.memory, compile=args.compile,
                    batch_jobs=max(1, args.batch_jobs),
                    workers=args.workers, ray_address=args.ray_address,
                    auth=args.auth, auth_file=args.auth_file.expanduser().resolve() if args.auth_file else None,
                    insecure_no_auth=args.insecure_no_auth,
                    enable_insecure_extension_access=args.enable_insecure_extension_access,
                    disable_all_extensions=args.disable_all_extensions, tls_keyfile=tls_keyfile,
                    tls_certfile=tls_certfile, tls_self_signed=args.tls_self_signed,
                    allowed_hosts=tuple(h.strip().lower() for h in args.allowed_hosts.split(",") if h.strip()))


def apply_offline_environment(allow_downloads: bool, environ: dict[str, str] | None = None) -> None:
    """Must run before gradio or huggingface_hub is imported: they read these at import time."""
    env = os.environ if environ is None else environ
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if not allow_downloads:
        env["HF_HUB_OFFLINE"] = "1"
        env["TRANSFORMERS_OFFLINE"] = "1"
        env["DIFFUSERS_OFFLINE"] = "1"


class SettingsStore:
    """UI settings persisted as JSON. A bad file never stops the app: it is kept aside and defaults apply."""

    def __init__(self, path: Path, defaults: dict[str, Any]) -> None:
        self.path = path
        self.defaults = dict(defaults)
        self.values = self._load()
        self._form_lock = threading.Lock()  # `update_from`: compare and write as one step

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            log.info("no settings file at %s yet: using defaults", self.path)
            return dict(self.defaults)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        except (OSError, ValueError) as exc:
            backup = _keep_aside(self.path)
            log.warning("settings file %s is unreadable (%s): using defaults; the bad file is kept as %s",
                        self.path, exc, backup)
            return dict(self.defaults)
        return {**self.defaults, **data}

    def get(self, key: str) -> Any:
        return self.values.get(key, self.defaults.get(key))

    def update(self, changes: dict[str, Any]) -> None:
        self.values.update(changes)
        self.save()

    def update_from(self, seen: dict[str, Any], wanted: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Save what a form changed, never what it merely showed: `seen` holds the values the form was filled
        with, `wanted` what it holds now. Only keys that differ are written, and a key someone else changed
        since the form was filled is not overwritten: returns (saved, conflicts), conflicts mapping each
        refused key to the newer value now stored."""
        with self._form_lock:
            saved, conflicts = {}, {}
            for key, value in wanted.items():
                if value == seen.get(key):
                    continue
                current = self.get(key)
                if current != seen.get(key) and current != value:
                    conflicts[key] = current
                else:
                    saved[key] = value
            if saved:
                self.update(saved)
            return saved, conflicts

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.values, fh, indent=2, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, self.path)


def _keep_aside(path: Path) -> Path | None:
    try:
        return move_aside(path)
    except OSError as exc:
        log.warning("could not move %s aside: %s", path, exc)
        return None


class UserSettingsStore:
    """Per-user values (e.g. each user's default checkpoint) in one JSON file: {user: {key: value}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError("expected {user: {setting: value}}")
            self._values = {str(k): dict(v) for k, v in data.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            # Kept aside, never overwritten by the next save: everyone's saved defaults are in it.
            backup = _keep_aside(path)
            log.warning("per-user settings file %s is unreadable (%s): starting empty; the bad file is kept as %s",
                        path, exc, backup)

    def get(self, user: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._values.get(user, {}))

    def update(self, user: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            values = {**self._values.get(user, {}), **changes}
            self._values[user] = values
            snapshot = json.dumps(self._values, indent=2, sort_keys=True, ensure_ascii=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".user-settings-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(snapshot)
            os.replace(tmp, self.path)
            return dict(values)
