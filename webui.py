"""Stable Diffusion WebUI: composition root. Parse flags -> Settings -> services -> UI -> serve."""

from __future__ import annotations

import logging
import sys
import threading

from modules.settings import apply_offline_environment, settings_from_args

log = logging.getLogger("webui")


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args(argv)
    # Before anything imports gradio or huggingface_hub: they read these at import time.
    apply_offline_environment(settings.allow_downloads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from modules.services import build_services
    from modules.ui.app import CSS, build_ui

    services = build_services(settings)
    services.jobs.start()
    stop_hashing = threading.Event()
    threading.Thread(target=services.models.checkpoints.hash_missing, args=(stop_hashing,), name="hashing",
                     daemon=True).start()
    demo = build_ui(services)
    demo.queue(default_concurrency_limit=8, max_size=256)
    log.info("serving on http://%s:%d", settings.host, settings.port)
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, css=CSS, inbrowser=False,
                    allowed_paths=[str(settings.paths.outputs)], show_error=True, share=False)
    finally:
        stop_hashing.set()
        services.jobs.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
