"""Serving the app (API + mounted UI) on one port with uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int) -> None:
    # Gradio keeps a heartbeat stream open per browser tab: without a grace limit a stop would wait for them.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5,
                proxy_headers=False)
