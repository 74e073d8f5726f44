"""Stable Diffusion WebUI: composition root. Flags -> Settings -> accounts -> services -> API + UI -> serve."""

from __future__ import annotations

import logging
import sys
import threading

from modules.core.settings import apply_offline_environment, settings_from_args

log = logging.getLogger("webui")


def _repair_history(history) -> None:
    try:
        log.info("history: %s", history.repair())
    except Exception:  # the app works without the index; the next start tries again
        log.exception("history: the repair scan failed")


def _certificate(settings):
    """The certificate to serve HTTPS with, or None for plain HTTP; a bad file stops the start with why."""
    from modules.service import tls

    try:
        if settings.tls_self_signed:
            return tls.self_signed(settings.paths.cache_dir / "tls")
        if settings.tls_certfile is not None:
            return tls.given(settings.tls_certfile, settings.tls_keyfile)
    except tls.TlsError as exc:
        raise SystemExit(f"error: {exc}") from None
    return None


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args(argv)
    # Before anything imports gradio or huggingface_hub: they read these at import time.
    apply_offline_environment(settings.allow_downloads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from modules.service.accounts import AccountError, Accounts, check_serving

    try:
        accounts = Accounts.load(settings.auth, settings.auth_file)
        warning = check_serving(settings.listen, accounts, settings.insecure_no_auth)
    except AccountError as exc:
        raise SystemExit(f"error: {exc}") from None
    if warning:
        log.warning(warning)
    log.info("accounts: %s", ", ".join(accounts.names()) if accounts.enabled else "none (no login)")

    from modules.api.app import build_app
    from modules.api.server import serve
    from modules.service.services import build_services, start_extensions
    from modules.service.tls import describe
    from modules.ui.app import build_ui, mount_ui

    from modules.engine.compilation import CompileError

    try:
        services = build_services(settings, per_user_outputs=accounts.enabled, accounts=accounts)
    except CompileError as exc:  # --compile on the CPU: said plainly, no traceback
        raise SystemExit(f"error: {exc}") from None
    if settings.workers or settings.ray_address:  # else nothing of Ray is imported, nor any process started
        from modules.service.workers.runtime import start_workers, stop_workers

        start_workers(services)
    start_extensions(services)  # before the app: extensions add routes, tabs and samplers
    removed = services.outputs.remove_stale_temporaries()  # half-written files of a crash; no job runs yet
    if removed:
        log.info("outputs: removed %d half-written temporary file(s) left by an earlier crash", removed)
    # A crash may have left pictures without rows (or rows without pictures): put the index right, meanwhile serving.
    threading.Thread(target=_repair_history, args=(services.history,), name="history-repair", daemon=True).start()
    stop_hashing = threading.Event()
    threading.Thread(target=services.models.checkpoints.hash_missing, args=(stop_hashing,), name="hashing",
                     daemon=True).start()
    certificate = _certificate(settings)
    hosts = None
    if not accounts.enabled:  # nothing else would stop a DNS-rebinding page from driving an open instance
        from modules.service.tls import machine_names

        hosts = frozenset(n.lower() for n in (*machine_names(), *settings.allowed_hosts))
    app = build_app(services, accounts, allowed_hosts=hosts)
    mount_ui(app, build_ui(services, banner=warning), services, accounts)
    scheme = "https" if certificate is not None else "http"
    log.info("serving the UI and the API on %s://%s:%d", scheme, settings.host, settings.port)
    if certificate is not None:
        log.info("tls: %s", describe(certificate, settings.port))
    elif settings.listen:
        log.warning("serving the LAN over plain HTTP: passwords cross the network in the clear. Use "
                    "--tls-self-signed (or --tls-certfile/--tls-keyfile) to serve HTTPS.")
    services.extensions.app_started(f"{scheme}://{settings.host}:{settings.port}")
    # Last, once everything that can refuse to start has: a resumed job must not hold the device for a start
    # that fails (a bad certificate, a wrong flag).
    services.jobs.start()
    try:
        serve(app, settings.host, settings.port, certfile=certificate.certfile if certificate else None,
              keyfile=certificate.keyfile if certificate else None)
    finally:
        stop_hashing.set()
        services.jobs.stop()
        if services.workers is not None:
            stop_workers(services)


if __name__ == "__main__":
    main(sys.argv[1:])
