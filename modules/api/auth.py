"""Login for every route of the app: the REST API, the docs and the mounted Gradio UI alike.

Gradio's login covers only some of its own routes, and none of ours, so one ASGI middleware guards the
whole app: a request passes with HTTP Basic credentials (API clients, as A1111's `--api-auth`) or a Gradio
session cookie (the browser, after the login page), or when its path is on a short allowlist (the login
page and static assets). It also keeps users out of each other's output folders on Gradio's file route.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request

from modules.service.accounts import Accounts

USER_KEY = "webui.user"  # where the middleware leaves the authenticated user name in the ASGI scope
REALM = 'Basic realm="Stable Diffusion WebUI", charset="UTF-8"'
# Answer without login: the login page and what it needs to render, nothing that runs or reads data.
PUBLIC_EXACT = {("GET", "/"), ("POST", "/login"), ("POST", "/login/"), ("GET", "/favicon.ico"),
                ("GET", "/theme.css"), ("GET", "/gradio_api/theme.css"), ("GET", "/robots.txt"),
                ("GET", "/manifest.json")}
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/static/", "/pwa_icon")
API_PREFIXES = ("/sdapi/", "/api/", "/ext/", "/docs", "/openapi.json", "/redoc")
FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/", "/file=")

SessionResolver = Callable[[dict[str, str]], "str | None"]


@dataclass(frozen=True)
class Caller:
    name: str
    is_admin: bool = False
    authenticated: bool = False


@dataclass
class AuthGate:
    accounts: Accounts
    outputs_root: Path | None = None
    # Functions from cookies to a user name; the UI adds one for Gradio's session cookie when it is mounted.
    session_resolvers: list[SessionResolver] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.accounts.enabled

    def is_public(self, method: str, path: str) -> bool:
        method = "GET" if method == "HEAD" else method
        return (method, path) in PUBLIC_EXACT or (method in ("GET", "HEAD") and path.startswith(PUBLIC_PREFIXES))

    def basic_user(self, header: str | None) -> str | None:
        if not header or not header[:6].lower() == "basic ":
            return None
        try:
            name, sep, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        account = self.accounts.verify(name, password) if sep else None
        return account.name if account else None

    def session_user(self, cookies: dict[str, str]) -> str | None:
        for resolve in self.session_resolvers:
            name = resolve(cookies)
            if name and self.accounts.get(name) is not None:
                return name
        return None

    def caller(self, user: str | None, host: str | None) -> Caller:
        if self.enabled and user:
            return Caller(user, self.accounts.is_admin(user), True)
        # Without accounts every client machine is its own guest, so one can't stop another's job.
        return Caller(f"guest-{host or 'local'}")

    def may_read_file(self, user: str | None, raw_path: str) -> bool:
        """Outputs are per user: only their owner (or an admin) may fetch a file under outputs/<user>/."""
        if self.outputs_root is None or not self.enabled:
            return True
        root = os.path.realpath(self.outputs_root)
        real, plain = os.path.realpath(raw_path), os.path.abspath(raw_path)
        inside = [_within(root, p) or _within(os.path.abspath(self.outputs_root), p) for p in (real, plain)]
        if inside[1] and not inside[0]:
            return False  # a link inside outputs pointing out of it
        if not inside[0]:
            return True  # not an output: Gradio's own rules apply
        if self.accounts.is_admin(user):
            return True
        parts = Path(os.path.relpath(real, root)).parts
        return bool(parts) and parts[0] == user


def _within(root: str, path: str) -> bool:
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:  # different drives on Windows
        return False


def _file_target(path: str) -> str | None:
    """The file system path a request to Gradio's file route asks for, or None for other routes."""
    for prefix in FILE_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix):]
    return None


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    raw = headers.get(b"cookie", b"").decode("latin-1")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header just means "no session"
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


class AuthMiddleware:
    """Pure ASGI, so it sees every request, including the mounted Gradio app's and its streams."""

    def __init__(self, app: Any, gate: AuthGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or not self.gate.enabled:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if b"authorization" in headers:  # explicit credentials win over a browser session cookie
            # bcrypt takes a while on a cache miss: keep it off the event loop.
            header = headers[b"authorization"].decode("latin-1")
            user = await anyio.to_thread.run_sync(self.gate.basic_user, header)
        else:
            user = self.gate.session_user(_cookies(headers))
        if user is None and not self.gate.is_public(method, path):
            await self._deny(scope, send, path, 401, "Log in first: this server needs an account (HTTP Basic "
                                                    "for the API, the login page for the UI).")
            return
        target = _file_target(path)
        if target is not None and not self.gate.may_read_file(user, target):
            await self._deny(scope, send, path, 403, "That file belongs to another user.")
            return
        scope[USER_KEY] = user
        await self.app(scope, receive, send)

    @staticmethod
    async def _deny(scope: dict, send: Any, path: str, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"application/json")]
        if status == 401 and path.startswith(API_PREFIXES):
            headers.append((b"www-authenticate", REALM.encode()))  # lets browsers and curl ask for a password
        body = json.dumps({"error": "Unauthorized" if status == 401 else "Forbidden", "detail": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def caller_dependency(gate: AuthGate) -> Callable[[Request], Caller]:
    """A FastAPI dependency giving the Caller of a request (set up by the middleware)."""

    def current_caller(request: Request) -> Caller:
        return gate.caller(request.scope.get(USER_KEY), request.client.host if request.client else None)

    return current_caller
