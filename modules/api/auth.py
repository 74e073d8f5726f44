"""Login for every route of the app: the REST API, the docs and the mounted Gradio UI alike.

Gradio's login covers only some of its own routes, and none of ours, so one ASGI middleware guards the
whole app: a request passes with HTTP Basic credentials (API clients, as A1111's `--api-auth`) or a Gradio
session cookie (the browser, after the login page), or when its path is on a short allowlist (the login
page and static assets). It also keeps users out of each other's output folders on Gradio's file route,
and checks passwords with the accounts' limits (back-off, a cap on concurrent bcrypt checks), the login
page's form included.

A second middleware, BrowserGuard, stops what a page on another site (or another port of this host) can make
a logged-in browser do: it refuses cross-site requests other than plain link navigation, keeps the session
cookie SameSite=Lax, and forbids framing by other sites and content-type sniffing.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from modules.service.accounts import Accounts, LoginRefused, TooManyChecks

USER_KEY = "webui.user"  # where the middleware leaves the authenticated user name in the ASGI scope
REALM = 'Basic realm="Stable Diffusion WebUI", charset="UTF-8"'
# Answer without login: the login page and what it needs to render, nothing that runs or reads data.
PUBLIC_EXACT = {("GET", "/"), ("POST", "/login"), ("POST", "/login/"), ("GET", "/favicon.ico"),
                ("GET", "/theme.css"), ("GET", "/gradio_api/theme.css"), ("GET", "/robots.txt"),
                ("GET", "/manifest.json")}
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/static/", "/pwa_icon")
API_PREFIXES = ("/sdapi/", "/api/", "/ext/", "/docs", "/openapi.json", "/redoc")
FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/", "/file=")
LOGIN_PATHS = ("/login", "/login/")
LOGIN_BODY_LIMIT = 64 * 1024  # a user name and a password; anything bigger is not a login
ERRORS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 413: "TooLarge", 429: "TooManyRequests",
          503: "Busy"}

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

    async def authenticate(self, name: str, password: str, client: str) -> str | None:
        """The user name if the password is right. Raises LoginRefused (back-off, or all check slots busy).

        Credentials that passed a full check a moment ago pass again at once, even during a back-off: an API
        client sending HTTP Basic on every request neither pays bcrypt each time nor gets locked out by
        someone guessing its name. Anything else waits out the back-off, then takes a check slot (or is
        refused: no queue), and runs bcrypt off the event loop.
        """
        account = self.accounts.recently_verified(name, password)
        if account is not None:
            return account.name
        guard = self.accounts.guard
        guard.admit(client, name)
        with guard.slot():
            account = await anyio.to_thread.run_sync(self.accounts.verify, name, password)
        guard.record(client, name, ok=account is not None)
        return account.name if account else None

    async def basic_user(self, header: str | None, client: str) -> str | None:
        if not header or not header[:6].lower() == "basic ":
            return None
        try:
            name, sep, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return await self.authenticate(name, password, client) if sep else None

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
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            if scope["type"] == "http" and method == "POST" and path in LOGIN_PATHS:
                receive = await self._check_login_form(scope, receive, send, client)
                if receive is None:
                    return
            if b"authorization" in headers:  # explicit credentials win over a browser session cookie
                user = await self.gate.basic_user(headers[b"authorization"].decode("latin-1"), client)
            else:
                user = self.gate.session_user(_cookies(headers))
        except LoginRefused as refused:
            await self._deny(scope, send, path, 503 if isinstance(refused, TooManyChecks) else 429, str(refused),
                             [(b"retry-after", str(refused.retry_after).encode())])
            return
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

    async def _check_login_form(self, scope: dict, receive: Any, send: Any, client: str) -> Any:
        """Check the login page's form here, with the accounts' limits, before Gradio does.

        Gradio's login route would run bcrypt on the event loop with no limit. Returns a `receive` replaying
        the body to Gradio (whose own check is then a cache hit), or None when the answer was sent here.
        """
        path = scope.get("path", "")
        body = await _read_body(receive, LOGIN_BODY_LIMIT)
        if body is None:
            await self._deny(scope, send, path, 413, "A login form is a user name and a password.")
            return None
        try:
            form = await Request(scope, _replay(body, receive)).form()
        except (HTTPException, MultiPartException) as exc:  # which one depends on the scope
            await self._deny(scope, send, path, 400, f"Malformed login form: {getattr(exc, 'detail', exc)}")
            return None
        name, password = form.get("username"), form.get("password")
        await form.close()
        if isinstance(name, str) and isinstance(password, str):  # else Gradio explains what is missing
            if await self.gate.authenticate(name.strip(), password, client) is None:
                await self._deny(scope, send, path, 400, "Incorrect credentials.")  # what the login page expects
                return None
        return _replay(body, receive)

    @staticmethod
    async def _deny(scope: dict, send: Any, path: str, status: int, message: str,
                    extra: list[tuple[bytes, bytes]] | None = None) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"application/json"), *(extra or [])]
        if status == 401 and path.startswith(API_PREFIXES):
            headers.append((b"www-authenticate", REALM.encode()))  # lets browsers and curl ask for a password
        body = json.dumps({"error": ERRORS.get(status, "Error"), "detail": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body, or None if it is longer than `limit` or the client went away."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A `receive` that gives `body` once, then whatever the client sends next (its disconnect)."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# ------------------------------------------------------------------------------------------ browser guard
DEFAULT_PORTS = {"http": 80, "https": 443}
SAFE_SITES = ("same-origin", "none")  # Sec-Fetch-Site of the page itself, and of a typed URL or bookmark
SECURITY_HEADERS = ((b"x-frame-options", b"SAMEORIGIN"), (b"x-content-type-options", b"nosniff"))
FRAME_POLICY = (b"content-security-policy", b"frame-ancestors 'self'")
SAMESITE = re.compile(rb";\s*samesite=[^;]*", re.IGNORECASE)
CROSS_SITE = ("Cross-site request refused: a page on another site (or another port of this host) made your browser "
              "send it. Use the WebUI's own pages; API clients that send no Origin header are not affected.")


def same_origin(origin: str, host: str | None) -> bool:
    """Whether an Origin header names this server as the Host header does.

    Host carries no scheme, and a TLS proxy in front makes ours http while the browser's is https, so the
    scheme only decides the default port: `Host: studio.example` matches `https://studio.example`.
    """
    try:
        theirs, ours = urlsplit(origin), urlsplit(f"//{host}")
        default = DEFAULT_PORTS.get(theirs.scheme)
        their_port, our_port = theirs.port or default, ours.port
    except ValueError:
        return False
    if default is None or not host or not theirs.hostname or theirs.hostname != ours.hostname:
        return False
    return their_port == (our_port if our_port is not None else default)


def is_cross_site(headers: Headers) -> bool:
    """Whether a browser sent this for a page of another origin (site or port).

    Browsers since 2020-2023 say so in Sec-Fetch-Site, which pages cannot forge and which survives a proxy
    that rewrites Host; older ones send Origin on cross-origin requests, compared with Host. A request with
    neither (curl, A1111 API clients, an old browser's plain GET) is not a cross-site one.
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in SAFE_SITES
    origin = headers.get("origin")
    return origin is not None and not same_origin(origin, headers.get("host"))


class BrowserGuard:
    """Pure ASGI, outside the login: refuse cross-site requests except link navigation; harden every answer.

    A cross-site GET or HEAD that navigates the whole tab (a link to the UI from a chat or a wiki) is let
    through: the page that linked cannot read the answer, and no GET changes anything here. Everything else
    cross-site is refused before login is even looked at, accounts or not: fetches that would read the
    session token or outputs, form POSTs that would empty the trash or interrupt, websockets.
    """

    def __init__(self, app: Any, allowed_hosts: frozenset[str] | None = None) -> None:
        self.app = app
        # Set for an instance without accounts: a page whose DNS name is re-pointed at this machine (DNS
        # rebinding) looks same-origin to the browser, and nothing else would stop it.
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            await self._refuse(scope, send, 421, f"This server does not answer to the name "
                                                f"{headers.get('host', '')!r}: it has no accounts, so it answers only "
                                                f"to its own names ({', '.join(sorted(self.allowed_hosts))}). Add "
                                                f"another name with --allowed-hosts.")
            return
        if is_cross_site(headers) and not self._is_navigation(scope, headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _harden(send)({"type": "http.response.start", "status": 403,
                                 "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body",
                        "body": json.dumps({"error": "Forbidden", "detail": CROSS_SITE}).encode()})
            return
        await self.app(scope, receive, _harden(send) if scope["type"] == "http" else send)

    @staticmethod
    async def _refuse(scope: dict, send: Any, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _harden(send)({"type": "http.response.start", "status": status,
                             "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"error": "Forbidden", "detail": detail}).encode()})

    @staticmethod
    def _is_navigation(scope: dict, headers: Headers) -> bool:
        return (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and headers.get("sec-fetch-mode") == "navigate" and headers.get("sec-fetch-dest") == "document")


def host_name(host: str) -> str:
    """'studio:7860' -> 'studio'; '[::1]:7860' -> '::1'; lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _harden(send: Any) -> Any:
    """`send` with the security headers added and every cookie set SameSite=Lax.

    Gradio sets its session cookie SameSite=None, so browsers would attach it to requests from any site.
    Lax keeps it off cross-site requests except top-level link navigation (which changes nothing here).
    """

    async def send_hardened(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = []
            for name, value in message.get("headers", []):
                if name.lower() == b"set-cookie":
                    value = SAMESITE.sub(b"", value) + b"; SameSite=Lax"
                headers.append((name, value))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            headers.append(FRAME_POLICY)
            message = {**message, "headers": headers}
        await send(message)

    return send_hardened


def caller_dependency(gate: AuthGate) -> Callable[[Request], Caller]:
    """A FastAPI dependency giving the Caller of a request (set up by the middleware)."""

    def current_caller(request: Request) -> Caller:
        return gate.caller(request.scope.get(USER_KEY), request.client.host if request.client else None)

    return current_caller
