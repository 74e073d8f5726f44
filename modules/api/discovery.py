"""The rest of A1111 1.10's `/sdapi/v1` routes (what clients probe to learn what a server has), and the Gradio-era
`/queue/status` that clients poll to see whether a server is alive and busy.

Each A1111 route answers here: with this server's facts, or with a 501 that names the missing feature (never a
404 for a route A1111 has). Routes that change what every user of a shared server gets (unloading models) are
for admins when accounts exist; none lets a user stop the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from modules.api.a1111_flags import cmd_flags
from modules.api.auth import Caller
from modules.api.schemas import BoundedRoute
from modules.core.detailer import VERSION as DETAILER_VERSION
from modules.engine.memory import memory_report
from modules.service.jobs import FINISHED, QUEUED, RUNNING, NotAllowed

if TYPE_CHECKING:
    from modules.service.services import Services

# A1111 routes this server does not offer, with the reason (a 501 says it, for clients and people alike).
MISSING = {
    ("POST", "/interrogate"): "Interrogate (CLIP / DeepBooru captions) is not available on this server.",
    ("POST", "/create/embedding"): "Creating textual-inversion embeddings is not available on this server "
                                    "(training happens outside the app).",
    ("POST", "/create/hypernetwork"): "Hypernetworks are not supported on this server.",
    ("POST", "/train/embedding"): "Training embeddings is not available on this server (training happens outside "
                                   "the app).",
    ("POST", "/train/hypernetwork"): "Hypernetworks are not supported on this server.",
}
STOP_ROUTES = ("server-kill", "server-restart", "server-stop")
ETA_WINDOW = 20  # finished jobs whose durations estimate the queue's wait


def require_admin(caller: Caller, what: str) -> None:
    """On a server with accounts only an admin may change what every user gets; without accounts (one person's
    machine) the caller may, as in A1111."""
    if caller.authenticated and not caller.is_admin:
        raise NotAllowed(f"Only an admin may {what}: it changes the server for every user.")


def queue_status(services: Services) -> dict[str, Any]:
    """Gradio 3's `Estimation`, which A1111 served at /queue/status: the jobs waiting or running, and an estimate
    of how long they take, from the last finished jobs."""
    jobs = services.jobs.all_jobs()
    waiting = [j for j in jobs if j.status in (QUEUED, RUNNING)]
    durations = sorted((j for j in jobs if j.status in FINISHED and j.started and j.finished),
                       key=lambda j: j.finished or 0)[-ETA_WINDOW:]
    average = (sum((j.finished or 0) - (j.started or 0) for j in durations) / len(durations)) if durations else None
    eta = 0.0
    if average is not None:
        now = time.time()
        for job in waiting:
            elapsed = now - job.started if job.status == RUNNING and job.started else 0.0
            eta += max(0.0, average - elapsed)
    return {"msg": "estimation", "rank": None, "queue_size": len(waiting), "avg_event_process_time": average,
            "avg_event_concurrent_process_time": average, "rank_eta": None, "queue_eta": round(eta, 3)}


def prompt_styles(services: Services) -> list[dict[str, Any]]:
    """A1111's styles list, from the styles extension (its /list route); none when it is not loaded."""
    host = services.extensions
    for ext, route in host.contributions("routes") if host is not None else []:
        if ext.name == "styles" and route.path == "/list":
            ok, styles = host.guarded(ext, "prompt-styles", route.endpoint)
            return list(styles) if ok and isinstance(styles, list) else []
    return []


def extensions_list(services: Services) -> list[dict[str, Any]]:
    """A1111's ExtensionItem per extension folder; `remote`, `branch` and the commit from its metadata if any."""
    host = services.extensions
    out = []
    for ext in (host.extensions if host is not None else []):
        meta = ext.metadata
        out.append({"name": ext.name, "remote": meta.get("url") or meta.get("remote"), "branch": meta.get("branch"),
                    "commit_hash": meta.get("commit"), "commit_date": None, "version": meta.get("version", ""),
                    "enabled": bool(ext.enabled)})
    return out


def script_info(services: Services) -> list[dict[str, Any]]:
    """A1111's ScriptInfo per script and tab where it is offered, with its positional `script_args` by name
    (the values' ranges and choices are the script's own business here, so they are left out)."""
    host = services.extensions
    scripts = host.scripts() if host is not None else []
    return [{"name": s.title.lower(), "is_alwayson": False, "is_img2img": panel == "img2img",
             "args": [{"label": name, "value": None, "minimum": None, "maximum": None, "step": None, "choices": None}
                      for name in s.args]}
            for s in scripts for panel in ("txt2img", "img2img") if panel in s.panels]


def realesrgan_models(services: Services) -> list[dict[str, Any]]:
    return [{"name": u.name, "path": str(u.path), "scale": u.scale} for u in services.upscalers.all()
            if u.path is not None and "realesrgan" in str(u.path).replace("-", "").casefold()]


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(route_class=BoundedRoute, tags=["A1111 compatible"])
    who = Depends(current_caller)

    @router.get("/queue/status")
    def status(caller: Caller = who) -> dict[str, Any]:
        return queue_status(services)

    @router.get("/sdapi/v1/cmd-flags")
    def flags(caller: Caller = who) -> dict[str, Any]:
        return cmd_flags(services)

    @router.get("/sdapi/v1/memory")
    def get_memory(caller: Caller = who) -> dict[str, Any]:
        return memory_report()

    @router.get("/sdapi/v1/prompt-styles")
    def styles(caller: Caller = who) -> list[dict[str, Any]]:
        return prompt_styles(services)

    @router.get("/sdapi/v1/extensions")
    def extensions(caller: Caller = who) -> list[dict[str, Any]]:
        return extensions_list(services)

    @router.get("/sdapi/v1/script-info")
    def scripts(caller: Caller = who) -> list[dict[str, Any]]:
        return script_info(services)

    @router.get("/adetailer/v1/ad_model")
    def adetailer_models(caller: Caller = who) -> dict[str, list[str]]:
        return {"ad_model": services.processor.detectors.names()}  # ADetailer's route: what ad_model may name

    @router.get("/adetailer/v1/version")
    def adetailer_version(caller: Caller = who) -> dict[str, str]:
        return {"version": DETAILER_VERSION}

    @router.get("/sdapi/v1/realesrgan-models")
    def realesrgan(caller: Caller = who) -> list[dict[str, Any]]:
        return realesrgan_models(services)

    @router.get("/sdapi/v1/hypernetworks")
    def hypernetworks(caller: Caller = who) -> list[dict[str, Any]]:
        return []  # hypernetworks are not supported; an empty list is what A1111 shows with none installed

    @router.get("/sdapi/v1/sd-modules")
    def sd_modules(caller: Caller = who) -> list[dict[str, Any]]:
        """Forge's text-encoder and VAE files; its forge_additional_modules takes their names or paths."""
        return [{"model_name": m.name, "filename": str(m.path)} for m in services.models.modules]

    @router.get("/api/v1/modules")
    def modules(caller: Caller = who) -> list[dict[str, Any]]:
        """The same files with what they are (read from their weights) and why one cannot be used."""
        return [{"name": m.name, "filename": str(m.path), "kind": m.kind, "label": m.label, "dtype": m.dtype,
                 "usable": m.usable, "error": m.error} for m in services.models.modules]

    @router.post("/sdapi/v1/refresh-embeddings")
    def refresh_embeddings(caller: Caller = who) -> None:
        services.models.refresh()

    @router.post("/sdapi/v1/unload-checkpoint")
    def unload(caller: Caller = who) -> dict[str, Any]:
        require_admin(caller, "unload the checkpoints")
        services.models.unload_all()  # waits for a running job: the model manager's lock
        return {}

    @router.post("/sdapi/v1/reload-checkpoint")
    def reload(caller: Caller = who) -> dict[str, Any]:
        require_admin(caller, "reload the checkpoint")
        info = services.models.default_checkpoint()
        if info is None:
            raise LookupError("No checkpoint to load: put one in the Stable-diffusion folder.")
        services.models.load(info)
        return {}

    for (method, path), reason in MISSING.items():
        router.add_api_route(f"/sdapi/v1{path}", _not_implemented(reason), methods=[method], dependencies=[who],
                             name=path.strip("/").replace("/", "-"), include_in_schema=False)
    for name in STOP_ROUTES:
        router.add_api_route(f"/sdapi/v1/{name}", _stop_refused(name), methods=["POST"], name=name,
                             include_in_schema=False)
    return router


def _not_implemented(reason: str) -> Callable[[], JSONResponse]:
    def endpoint() -> JSONResponse:
        return JSONResponse({"error": "NotImplemented", "detail": reason}, status_code=501)

    return endpoint


def _stop_refused(name: str) -> Callable[..., JSONResponse]:
    def endpoint() -> JSONResponse:
        return JSONResponse({"error": "NotImplemented", "detail": (
            f"/sdapi/v1/{name} is not offered: one API call must not stop a server others may be using. Stop or "
            "restart it where it was started (Ctrl+C, or your service manager).")}, status_code=501)

    return endpoint
