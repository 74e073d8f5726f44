"""Composes the tabs into one Gradio Blocks app. Holds no model state: everything comes from `services`."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request
from starlette.routing import Mount

from modules.extension_api import TabContext
from modules.ui import (
    embeddings_tab,
    extensions_tab,
    extras_tab,
    history_tab,
    img2img,
    lora_tab,
    merger_tab,
    train_tab,
    page_assets,
    pnginfo,
    send_to,
    settings_tab,
    workers_panel,
    txt2img,
)
from modules.ui.user_defaults import account_of

if TYPE_CHECKING:
    from modules.service.services import Services

CSS = """
/* Small pictures (the demo model draws 48 px) are shown enlarged with crisp pixels, not blurred. */
#txt2img_gallery img, #txt2img_preview img, #img2img_gallery img, #img2img_preview img,
[id*="_controlnet_unit"][id$="_preview"] img { image-rendering: pixelated; }
.status-error { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.status progress, .status-error progress { width: 100%; }
.extensions-table td, .extensions-table th { padding: 2px 8px; text-align: left; }
.extensions-table tr.ext-problem td { color: var(--error-text-color, #b91c1c); }
#insecure_banner { background: #fef3c7; color: #7c2d12; border: 1px solid #f59e0b; padding: 4px 12px; }
"""


def build_ui(services: Services, banner: str | None = None) -> gr.Blocks:
    """The UI; `banner` is a warning shown above the tabs (e.g. served on the network without login)."""
    with gr.Blocks(title="Stable Diffusion WebUI", analytics_enabled=False) as demo:
        if banner:
            gr.Markdown(f"⚠️ **{banner}**", elem_id="insecure_banner")
        if services.accounts is not None and services.accounts.enabled:
            _user_bar(demo, services.accounts)
        # "wrap": on a narrow screen the tabs go on a second line instead of hiding behind a "…" menu.
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                t2i = txt2img.build(services)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                i2i = img2img.build(services)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                extras = extras_tab.build(services)
            with gr.Tab("Lora", id="lora", elem_id="tab_lora") as lora:
                lora_tab.build(services, {"txt2img": t2i.prompt, "img2img": i2i.prompt}, lora)
            with gr.Tab("Textual Inversion", id="textual_inversion", elem_id="tab_textual_inversion"):
                embeddings_tab.build(services, {"txt2img": t2i.prompt, "img2img": i2i.prompt})
            if services.history is not None:
                with gr.Tab("History", id="history", elem_id="tab_history") as history:
                    history_tab.build(services, history, t2i, i2i, tabs)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                pnginfo.build(services, t2i, tabs, "txt2img", i2i)
            with gr.Tab("Checkpoint Merger", id="merger", elem_id="tab_merger"):
                merger_tab.build(services, [t2i.checkpoint, i2i.checkpoint])
            with gr.Tab("Train", id="train", elem_id="tab_train"):
                train_tab.build(services)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings") as settings:
                settings_tab.build(services, settings)
            add_extension_tabs(services)
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                extensions_tab.build(services)
            with gr.Tab("Workers", id="workers", elem_id="tab_workers"):
                workers_panel.build(services)
        img2img.connect_send(t2i, i2i, tabs)
        send_to.connect(send_to.GallerySends(t2i.gallery, t2i.selected, extras=t2i.send_extras,
                                             controlnet=t2i.send_controlnet), t2i, i2i, extras, tabs)
        send_to.connect(send_to.GallerySends(i2i.gallery, i2i.selected, **(i2i.sends or {})), t2i, i2i, extras, tabs)
        settings_tab.fill_default_negative(services, [t2i.negative_prompt, i2i.negative_prompt])
    return demo


def user_bar_html(name: str | None, admin: bool) -> str:
    """Who is logged in, and a Log out button (a POST: a link elsewhere cannot log anyone out)."""
    if not name:
        return ""
    role = " (admin)" if admin else ""
    return (f'<div class="user-bar">Logged in as <b>{html.escape(name)}</b>{role} '
            f'<form method="post" action="logout" style="display:inline">'
            f'<button type="submit" id="logout_button">Log out</button></form></div>')


def _user_bar(demo: gr.Blocks, accounts: Any) -> None:
    bar = gr.HTML(elem_id="user_bar")

    def show(request: gr.Request) -> str:
        name = account_of(request)
        return user_bar_html(name, bool(name) and accounts.is_admin(name))

    demo.load(show, outputs=[bar], queue=False)


def tab_context(services: Services, ext: Any) -> TabContext:
    def submit_and_wait(request: Any, user: str) -> Any:
        job = services.submit(request, user)
        services.jobs.wait(job)
        if job.error:
            raise ValueError(job.error)
        return job.result

    from modules.ui import roles  # what only an admin may do, in an extension's tab

    def show(components: Any, others: Any = ()) -> None:
        roles.show_to_admins(services.accounts, list(components), list(others))

    return TabContext(name=ext.name, settings=ext.api.settings, sampler_names=services.samplers.names,
                      checkpoint_names=lambda: [i.title for i in services.models.checkpoints.usable()],
                      submit_and_wait=submit_and_wait,
                      admin_only=lambda handler, what: roles.admin_only(services.accounts, handler, what),
                      show_to_admins=show)


def add_extension_tabs(services: Services) -> None:
    """One tab per extension tab; a builder that raises leaves a tab saying so, and the rest of the UI."""
    host = services.extensions
    for ext, tab in host.contributions("tabs"):
        with gr.Tab(tab.title, elem_id=f"tab_ext_{ext.name}"):
            ok, _ = host.guarded(ext, "building its tab", tab.builder, tab_context(services, ext))
            if not ok:
                gr.Markdown(f"The extension **{ext.name}** failed to build this tab: {ext.error}")


def gradio_session_resolver(gradio_app: Any) -> Any:
    """cookies -> the user Gradio's login page logged in, so the API and file guard know browser users too."""

    def resolve(cookies: dict[str, str]) -> str | None:
        for key in (f"access-token-{gradio_app.cookie_id}", f"access-token-unsecure-{gradio_app.cookie_id}"):
            token = cookies.get(key)
            if token and token in gradio_app.tokens:
                return gradio_app.tokens[token]
        return None

    return resolve


def mount_ui(app: Any, demo: gr.Blocks, services: Services, accounts: Any = None, max_queue: int = 256) -> Any:
    """Serve the UI at / of the API's FastAPI app (one port), behind the same accounts."""
    demo.queue(default_concurrency_limit=8, max_size=max_queue)
    auth = accounts.gradio_auth if accounts is not None and accounts.enabled else None
    mounted: list[Any] = []  # the Gradio app, once mounted; the logout routes need its sessions
    add_logout_routes(app, lambda: mounted[0])  # before the mount at "/", so they win over Gradio's
    gr.mount_gradio_app(app, demo, path="/", auth=auth, auth_message="Stable Diffusion WebUI: log in with your account.",
                        css=CSS + page_assets.css(), head=page_assets.head(),
                        allowed_paths=[str(services.outputs.root)], show_error=True, footer_links=["api", "settings"])
    mounted.append(next(r.app for r in app.routes if isinstance(r, Mount) and r.path == ""))
    # Gradio checks the file paths sent as event inputs (only its upload folder is accepted) once it has
    # launched, and a mounted app never launches by itself: without this, any path on the server (another
    # user's picture, /dev/zero) was read as an input.
    demo.has_launched = True
    gate = getattr(app.state, "auth_gate", None)
    if gate is not None:
        gate.session_resolvers.append(gradio_session_resolver(mounted[0]))
    return app


LOGOUT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Log out</title></head>
<body style="font-family:sans-serif;margin:3em"><form method="post" action="logout">
<p>Log out of the Stable Diffusion WebUI (every browser where you are logged in)?</p>
<button type="submit">Log out</button> <a href="./">Back</a></form></body></html>"""


def add_logout_routes(app: Any, gradio_app: Callable[[], Any]) -> None:
    """`POST /logout` ends the user's sessions and goes back to this server's login page.

    Gradio's own logout is a GET (so any link or <img> elsewhere logs users out) and redirects to the
    X-Forwarded-Host a client sends. Here a GET only shows a button that posts, and the redirect is relative.
    """

    def cookie_names() -> tuple[str, str]:
        cookie_id = gradio_app().cookie_id
        return f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"

    def confirm() -> HTMLResponse:
        return HTMLResponse(LOGOUT_PAGE)

    def logout(request: Request) -> RedirectResponse:
        tokens = gradio_app().tokens
        user = next((tokens[t] for t in (request.cookies.get(n) for n in cookie_names()) if t in tokens), None)
        for token, owner in list(tokens.items()):
            if user is not None and owner == user:
                tokens.pop(token, None)
        response = RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
        for name in cookie_names():
            response.delete_cookie(name, path="/")
        return response

    app.add_api_route("/logout", confirm, methods=["GET"], include_in_schema=False)
    app.add_api_route("/logout", logout, methods=["POST"], include_in_schema=False)
