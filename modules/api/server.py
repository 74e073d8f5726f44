"""Serving the app (API + mounted UI) on one port with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int, *, certfile: Path | None = None, keyfile: Path | None = None) -> None:
    """HTTP, or HTTPS when a certificate and its key are given."""
    # Gradio keeps a heartbeat stream open per browser tab: without a grace limit a stop would wait for them.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5,
                proxy_headers=False, ssl_certfile=str(certfile) if certfile else None,
                ssl_keyfile=str(keyfile) if keyfile else None)
