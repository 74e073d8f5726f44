"""build_app(services, accounts) -> FastAPI: the REST API, guarded by login; the UI is mounted on it later."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from modules.api import controlnet_api, ext_routes, extras_api, history_api, jobs_api, sdapi
from modules.api.auth import AuthGate, AuthMiddleware, caller_dependency
from modules.api.waiting import GenerationFailed
from modules.core.requests import RequestError
from modules.service.accounts import Accounts
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


def build_app(services: Services, accounts: Accounts | None = None) -> FastAPI:
    """The app with the A1111-compatible API and ours. `app.state.auth_gate` lets the UI join the login."""
    gate = AuthGate(accounts or Accounts(), outputs_root=services.outputs.root)
    app = FastAPI(title="Stable Diffusion WebUI API", version="1", docs_url="/docs", redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.auth_gate = gate
    app.state.services = services
    app.add_middleware(AuthMiddleware, gate=gate)
    current_caller = caller_dependency(gate)
    app.include_router(sdapi.build_router(services, current_caller))
    app.include_router(jobs_api.build_router(services, current_caller))
    app.include_router(controlnet_api.build_router(services, current_caller))
    app.include_router(extras_api.build_router(services, current_caller))
    if services.history is not None:
        app.include_router(history_api.build_router(services.history, current_caller))
    extensions = services.extensions
    if extensions is not None:
        app.include_router(ext_routes.build_router(extensions, [Depends(current_caller)]))
    add_error_handlers(app)
    return app
