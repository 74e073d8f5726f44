"""HTTPS for a shared instance: a self-signed certificate made once for the machine's names and kept; an
admin's own files checked at start; a real TLS handshake on loopback with the certificate trusted."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
import urllib.request

import pytest

from modules.core.settings import settings_from_args
from modules.service import tls


def test_a_self_signed_certificate_is_made_once_and_kept(tmp_path):
    first = tls.self_signed(tmp_path, ["localhost", "127.0.0.1", "studio-box"])
    assert first.self_signed and {"localhost", "127.0.0.1", "studio-box"} <= set(first.names)
    assert (first.keyfile.stat().st_mode & 0o777) == 0o600  # the key is readable by this user only
    again = tls.self_signed(tmp_path, ["localhost", "studio-box"])
    assert again.fingerprint == first.fingerprint  # browsers that trusted it keep trusting it


def test_a_new_name_or_a_near_expiry_makes_a_new_certificate_and_keeps_the_old(tmp_path):
    first = tls.self_signed(tmp_path, ["localhost"])
    second = tls.self_signed(tmp_path, ["localhost", "192.168.1.20"])
    assert second.fingerprint != first.fingerprint and "192.168.1.20" in second.names
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=tls.VALID_DAYS - 10)
    third = tls.self_signed(tmp_path, ["localhost", "192.168.1.20"], now=later)
    assert third.fingerprint != second.fingerprint
    assert len(list(tmp_path.glob("*.old"))) == 4  # two earlier certificates with their keys, never overwritten


def test_given_files_are_checked_at_start(tmp_path):
    a = tls.self_signed(tmp_path / "a", ["localhost"])
    b = tls.self_signed(tmp_path / "b", ["localhost"])
    assert tls.given(a.certfile, a.keyfile).fingerprint == a.fingerprint
    with pytest.raises(tls.TlsError, match="cannot be served together"):
        tls.given(a.certfile, b.keyfile)
    with pytest.raises(tls.TlsError, match="is not a file"):
        tls.given(tmp_path / "missing.pem", a.keyfile)


def test_the_flags_go_together():
    with pytest.raises(SystemExit, match="go together"):
        settings_from_args(["--tls-certfile", "c.pem"])
    with pytest.raises(SystemExit, match="makes its own certificate"):
        settings_from_args(["--tls-self-signed", "--tls-certfile", "c.pem", "--tls-keyfile", "k.pem"])
    assert settings_from_args(["--tls-self-signed"]).tls and not settings_from_args([]).tls


def test_https_is_served_with_the_certificate(tmp_path):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    cert = tls.self_signed(tmp_path, ["localhost", "127.0.0.1"])
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello over tls"))])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(cert.certfile), ssl_keyfile=str(cert.keyfile)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        context = ssl.create_default_context(cafile=str(cert.certfile))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=context, timeout=10) as answer:
            assert answer.read() == b"hello over tls"
        with pytest.raises(urllib.error.URLError):  # not trusted: a browser would warn, as the log says
            urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ssl.create_default_context(), timeout=10)
        assert cert.fingerprint in tls.describe(cert, port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
