"""The Extensions tab: every extension with its status, load time and error; which load at the next start;
each extension's settings; installing from a git URL where that is allowed.

Everyone sees the table; what changes the server for everyone (which extensions load, their settings, installing)
is an admin's (or, without accounts, the local user's): each handler checks the caller, and the page shows those
parts only to who may use them.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.service.extensions import Extension, ExtensionHost, install_allowed, install_from_git, set_enabled
from modules.ui.roles import admin_only, may_administer, show_to_admins

if TYPE_CHECKING:
    from modules.service.accounts import Accounts
    from modules.service.services import Services


def status_rows(host: ExtensionHost) -> list[dict[str, str]]:
    rows = []
    for ext in host.extensions:
        rows.append({
            "name": ext.name,
            "enabled": "yes" if ext.enabled else "no",
            "api": "" if ext.api_version is None else str(ext.api_version),
            "load_ms": f"{ext.load_ms:.1f}" if ext.enabled else "",
            "status": ext.status,
            "error": ext.error,
            "version": ext.metadata.get("version", ""),
            "description": ext.metadata.get("description", ""),
        })
    return rows


def table_html(host: ExtensionHost) -> str:
    if not host.extensions:
        return f"<p>No extensions in <code>{html.escape(str(host.folder or 'extensions/'))}</code>.</p>"
    head = ("<tr><th>Extension</th><th>Enabled</th><th>API</th><th>Load time (ms)</th><th>Status</th>"
            "<th>Error</th><th>Version</th><th>Description</th></tr>")
    body = []
    for row in status_rows(host):
        css = "ext-ok" if row["status"] == "loaded" else "ext-problem"
        cells = "".join(f"<td>{html.escape(row[k])}</td>" for k in
                        ("name", "enabled", "api", "load_ms", "status", "error", "version", "description"))
        body.append(f'<tr class="{css}" data-extension="{html.escape(row["name"])}">{cells}</tr>')
    return f'<table class="extensions-table">{head}{"".join(body)}</table>'


def _setting_component(ext: Extension, key: str) -> Any:
    setting = ext.api.settings.declared[key]  # type: ignore[union-attr]
    value = ext.api.settings.get(key)  # type: ignore[union-attr]
    elem_id = f"ext_setting_{ext.name}_{key}"
    label = f"{ext.name}: {setting.label}"
    if setting.choices is not None:
        return gr.Dropdown(list(setting.choices), value=value, label=label, elem_id=elem_id)
    if isinstance(setting.default, bool):
        return gr.Checkbox(value=bool(value), label=label, elem_id=elem_id)
    if isinstance(setting.default, (int, float)):
        return gr.Number(value=value, label=label, precision=0 if isinstance(setting.default, int) else None,
                         elem_id=elem_id)
    return gr.Textbox(value="" if value is None else str(value), label=label, elem_id=elem_id)


def _settings_section(extensions: list[Extension], accounts: Accounts | None) -> Any:
    """One form for every extension's settings (one Save), labelled by extension; only an admin saves it (anyone
    without accounts). Returns the accordion, for the page to show only to them."""
    fields = [(ext, key) for ext in extensions for key in ext.api.settings.declared]  # type: ignore[union-attr]
    with gr.Accordion("Extension settings", open=False, visible=False, elem_id="extensions_settings") as section:
        components = []
        for ext, key in fields:
            components.append(_setting_component(ext, key))
        save = gr.Button("Save extension settings", size="sm", elem_id="extensions_settings_save")
        result = gr.Markdown()

    def apply(*values: Any) -> str:
        problems, changes, by_name = [], {}, {ext.name: ext for ext, _ in fields}
        for (ext, key), value in zip(fields, values):
            changes.setdefault(ext.name, {})[key] = value
        for name, values_ in changes.items():
            ext = by_name[name]
            try:
                ext.api.settings.update(values_)  # type: ignore[union-attr]
            except (KeyError, ValueError) as exc:
                problems.append(f"{ext.name}: {exc}")
        return "Not all saved: " + "; ".join(problems) if problems else "Saved."

    save.click(admin_only(accounts, apply, "change the extensions' settings"), inputs=components, outputs=[result])
    return section


def build(services: Services) -> None:
    host: ExtensionHost = services.extensions
    gr.Markdown("Extensions load from `extensions/` at start. **Enabling or disabling takes effect at the next "
                "start.** An extension that fails is skipped; the rest of the app works.")
    gr.HTML(table_html(host), elem_id="extensions_table")
    failed = [e for e in host.extensions if e.details]
    if failed:
        with gr.Accordion("Errors (tracebacks)", open=False, elem_id="extensions_errors"):
            gr.HTML("".join(f"<h4>{html.escape(e.name)}</h4><pre>{html.escape(e.details)}</pre>" for e in failed))
    accounts = services.accounts
    readonly = gr.Markdown("Which extensions load, their settings and installing new ones are the server's, for "
                           "everyone: only an admin can change them.", visible=False, elem_id="extensions_readonly")
    admin_parts: list[Any] = []
    names = [e.name for e in host.extensions]
    if names and host.store is not None:
        enabled = gr.CheckboxGroup(names, value=[e.name for e in host.extensions if e.enabled], visible=False,
                                   label="Load at the next start", elem_id="extensions_enabled")
        save = gr.Button("Save (takes effect at the next start)", visible=False, elem_id="extensions_save")
        saved = gr.Markdown(elem_id="extensions_saved")

        def apply(chosen: list[str]) -> str:
            unknown = sorted(set(chosen or []) - set(names))
            if unknown:
                return f"Not saved: there is no extension {', '.join(unknown)}."
            disabled = set_enabled(host.store, chosen or [], names)
            off = ", ".join(sorted(disabled)) or "none"
            return f"Saved. Disabled at the next start: {off}. Restart the WebUI to apply."

        save.click(admin_only(accounts, apply, "choose which extensions load"), inputs=[enabled], outputs=[saved])
        admin_parts += [enabled, save]
    with_settings = [e for e in host.active() if e.api.settings.declared]  # type: ignore[union-attr]
    if with_settings:
        admin_parts.append(_settings_section(with_settings, accounts))
    admin_parts.append(_install_section(services, host))
    show_to_admins(accounts, admin_parts, [readonly])


def _install_section(services: Services, host: ExtensionHost) -> Any:
    """Installing runs someone else's code on this server at the next start: with accounts only an admin may,
    wherever the server listens; without accounts, the local user on a localhost server (install_allowed)."""
    settings = services.settings
    accounts = services.accounts
    allowed, reason = install_allowed(settings.listen, settings.enable_insecure_extension_access)
    with gr.Accordion("Install from a git URL", open=False, visible=False, elem_id="extensions_install") as section:
        if not allowed:
            gr.Markdown(reason, elem_id="extensions_install_off")
            return section
        url = gr.Textbox(label="Git repository URL", placeholder="https://github.com/owner/repo.git",
                         elem_id="extensions_install_url")
        button = gr.Button("Install", elem_id="extensions_install_button")
        result = gr.Markdown(elem_id="extensions_install_result")

        def install(address: str, request: gr.Request) -> str:
            # Checked again here, for this caller: the UI is not a security boundary.
            ok, why = install_allowed(settings.listen, settings.enable_insecure_extension_access,
                                      admin=may_administer(accounts, request))
            if not ok:
                raise gr.Error(f"Not installed: {why}")
            try:
                return install_from_git(address, settings.paths.extensions, allowed=ok)
            except ValueError as exc:
                return f"Not installed: {exc}"

        button.click(install, inputs=[url], outputs=[result])
    return section
