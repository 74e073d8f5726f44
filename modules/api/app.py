"""build_app(services, accounts) -> FastAPI: the REST API, guarded by login; the UI is mounted on it later."""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from modules.api import controlnet_api, discovery, ext_routes, extras_api, history_api, jobs_api, merge_api, sdapi
from modules.api import train_api
from modules.api import workers_api
from modules.api import history_search_api
from modules.api.auth import AuthGate, AuthMiddleware, BrowserGuard, caller_dependency
from modules.api.waiting import GenerationFailed
from modules.core.requests import RequestError
from modules.service.accounts import Accounts
from modules.service.history import HistoryUnavailable
from modules.service.jobs import NotAllowed, QueueFull

if TYPE_CHECKING:
    from modules.service.services import Services

log = logging.getLogger(__name__)


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # A1111 answers {"error", "detail", ...}; clients show `detail`.
    return JSONResponse({"error": kind, "detail": message}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return _error(429, "QueueFull", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, exc: RequestError) -> JSONResponse:
        return _error(422, "RequestError", str(exc))

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> JSONResponse:
        return _error(404, "NotFound", str(exc.args[0]) if exc.args else str(exc))

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> JSONResponse:
        return _error(403, "NotAllowed", str(exc))

    @app.exception_handler(GenerationFailed)
    async def failed(request: Request, exc: GenerationFailed) -> JSONResponse:
        return _error(500, "GenerationFailed", str(exc))

    @app.exception_handler(HistoryUnavailable)
    async def storage_unavailable(request: Request, exc: HistoryUnavailable) -> JSONResponse:
        # A read-only outputs folder or a full disk: the message says what to check; it is not our bug (500).
        return _error(503, "StorageUnavailable", str(exc), {"Retry-After": "30"})


def build_app(services: Services, accounts: Accounts | None = None,
              allowed_hosts: frozenset[str] | None = None) -> FastAPI:
    """The app with the A1111-compatible API and ours. `app.state.auth_gate` lets the UI join the login.
    `allowed_hosts`: the only Host names answered (webui.py sets it for an instance without accounts)."""
    gate = AuthGate(accounts or Accounts(), outputs_root=services.outputs.root)
    # FastAPI's own /docs loads Swagger UI from a CDN, which an offline studio can't reach: ours is local.
    app = FastAPI(title="Stable Diffusion WebUI API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.auth_gate = gate
    app.state.services = services
    app.add_middleware(AuthMiddleware, gate=gate)
    app.add_middleware(BrowserGuard, allowed_hosts=allowed_hosts)  # added last, so it runs first: refused requests never cost a bcrypt

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi(), request.scope.get("root_path", "")))

    current_caller = caller_dependency(gate)
    app.include_router(sdapi.build_router(services, current_caller))
    app.include_router(discovery.build_router(services, current_caller))
    app.include_router(jobs_api.build_router(services, current_caller))
    app.include_router(controlnet_api.build_router(services, current_caller))
    app.include_router(extras_api.build_router(services, current_caller))
    app.include_router(merge_api.build_router(services, current_caller))
    app.include_router(train_api.build_router(services, current_caller))
    app.include_router(workers_api.build_router(services, current_caller))
    if services.history is not None:
        app.include_router(history_api.build_router(services.history, current_caller))
        app.include_router(history_search_api.build_router(services.similar, services.suggestions, current_caller))
    extensions = services.extensions
    if extensions is not None:
        app.include_router(ext_routes.build_router(extensions, [Depends(current_caller)]))
    add_error_handlers(app)
    return app


def docs_page(schema: dict[str, Any], root: str = "") -> str:
    """The API's routes as one self-contained page (no scripts, nothing from elsewhere), from the schema."""
    rows = []
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            summary = operation.get("summary") or ""
            description = (operation.get("description") or "").strip().split("\n", 1)[0]
            params = ", ".join(p["name"] for p in operation.get("parameters", []))
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(summary)}</td><td>{html.escape(description)}</td>"
                        f"<td>{html.escape(params)}</td></tr>")
    title = html.escape(schema.get("info", {}).get("title", "API"))
    schema_url = html.escape(f"{root}/openapi.json")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left;vertical-align:top}"
            f"tr:nth-child(even){{background:#f4f4f5}}</style></head><body><h1>{title}</h1>"
            f"<p>The full schema (request and response bodies) is <a href=\"{schema_url}\">openapi.json</a>; "
            "any OpenAPI client or viewer can read it. Authenticate with HTTP Basic.</p>"
            "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Description</th><th>Parameters</th></tr>"
            + "".join(rows) + "</table></body></html>")
