"""Extension routes under /ext/<name>/, behind the same login as the rest of the app (the AuthMiddleware
guards every path that is not on its short public list). A route that raises marks its extension failed and
answers 500 with a message naming it; the server goes on."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from modules.service.extensions import Extension, ExtensionHost

PREFIX = "/ext"


def _guard(host: ExtensionHost, ext: Extension, endpoint: Callable[..., Any]) -> Callable[..., Any]:
    def failed(exc: Exception) -> HTTPException:
        host.guarded(ext, "in one of its routes", _reraise, exc)
        return HTTPException(500, f"Extension {ext.name!r} failed: {type(exc).__name__}: {exc}")

    # functools.wraps keeps the signature FastAPI reads the parameters from (it follows __wrapped__).
    @functools.wraps(endpoint)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        if not ext.active:
            raise HTTPException(503, f"Extension {ext.name!r} is not running: {ext.error or ext.status}.")
        try:
            if inspect.iscoroutinefunction(endpoint):
                return await endpoint(*args, **kwargs)
            return await run_in_threadpool(endpoint, *args, **kwargs)
        except HTTPException:
            raise
        except Exception as exc:
            raise failed(exc) from exc

    guarded.__signature__ = _resolved_signature(endpoint)  # type: ignore[attr-defined]
    return guarded


def _resolved_signature(endpoint: Callable[..., Any]) -> inspect.Signature:
    """The endpoint's signature with string annotations resolved in the extension's own module: FastAPI would
    look them up in this module's globals otherwise."""
    signature = inspect.signature(endpoint)
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:  # an annotation that does not resolve: FastAPI reports it when it reads the signature
        hints = {}
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    return signature.replace(parameters=params, return_annotation=hints.get("return", signature.return_annotation))


def _reraise(exc: Exception) -> None:
    raise exc


def build_router(host: ExtensionHost, dependencies: list[Any] | None = None) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["Extensions"], dependencies=dependencies or [])
    for ext, route in host.contributions("routes"):
        router.add_api_route(f"/{ext.name}{route.path}", _guard(host, ext, route.endpoint),
                             methods=list(route.methods), name=f"{ext.name}:{route.path}")
    return router
