"""Styles: apply saved prompt styles from a dropdown in txt2img/img2img; edit them in the Styles tab.

Values travel as request.extra["styles"] = {"styles": [names]} (from the UI section, or from the API's
alwayson_scripts under "styles").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from modules import extension_api as ext

from .styles import DEFAULT_FILE, Style, StyleFile, apply_styles, styles_file_in

API_VERSION = 1

Store = Callable[[], StyleFile]  # the styles file as configured now: the setting may change while the app runs


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("styles_file", "", label=f"Styles file: a .csv file name in {api.folder} (empty: {DEFAULT_FILE}; "
                                             "copy an A1111 styles.csv there to use it)",
                    check=lambda value: styles_file_in(api.folder, str(value or "")))

    def store() -> StyleFile:
        return StyleFile(configured_file(api)[0])

    add_hooks(api, store)
    api.add_section("Styles", lambda ctx: build_section(ctx, store))
    api.add_tab("Styles", lambda ctx: build_tab(ctx, store, lambda: configured_file(api)[1]))
    # Like A1111's /sdapi/v1/prompt-styles.
    api.add_route("/list", lambda: [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                                    for s in store().load().values()])


def configured_file(api: ext.ExtensionApi) -> tuple[Path, str]:
    """(the styles file, a problem to show or ""). A value the setting's check would refuse (saved by an older
    version, or written into the settings file by hand) is not used: the default file is, and the problem says so."""
    configured = str(api.settings.get("styles_file") or "")
    try:
        return styles_file_in(api.folder, configured), ""
    except ValueError as exc:
        api.log.warning("styles_file setting refused, using %s: %s", DEFAULT_FILE, exc)
        return api.folder / DEFAULT_FILE, (f"The styles file setting is refused ({exc}); {DEFAULT_FILE} is used "
                                           "until an admin changes it in Extensions > Extension settings.")


def add_hooks(api: ext.ExtensionApi, store: Store) -> None:
    """Apply the chosen styles before generating; name them in the infotext, and warn of missing ones, after."""

    @api.before_generate
    def apply(request):
        names = [str(n) for n in (api.values(request).get("styles") or [])]
        if not names:
            return None
        found, missing = store().pick(names)
        prompt, negative = apply_styles(request.prompt, request.negative_prompt, found)
        extra = {**request.extra, api.name: {**api.values(request), "applied": [s.name for s in found],
                                             "missing": missing}}
        return ext.replace(request, prompt=prompt, negative_prompt=negative, extra=extra)

    @api.after_generate
    def record(result) -> None:
        values = api.values(result.request)
        if values.get("applied"):
            ext.add_infotext_fields(result, {"Styles array": json.dumps(values["applied"], ensure_ascii=False)})
        for name in values.get("missing") or []:
            result.warnings.append(f"Style {name!r} is not in {store().path}; it was not applied.")


def build_section(ctx: ext.SectionContext, store: Store) -> dict:
    """The Styles dropdown of txt2img/img2img, with a button that writes the styles into the prompt."""
    import gradio as gr

    names = list(store().load())
    chosen = gr.Dropdown(names, value=[], multiselect=True, label="Styles", elem_id=f"{ctx.panel}_styles")
    if ctx.prompt is not None and ctx.negative_prompt is not None:
        into_prompt = gr.Button("Write the styles into the prompt", size="sm")

        def write(selected, prompt, negative):
            found, _ = store().pick(list(selected or []))
            new_prompt, new_negative = apply_styles(prompt or "", negative or "", found)
            return new_prompt, new_negative, []

        into_prompt.click(write, inputs=[chosen, ctx.prompt, ctx.negative_prompt],
                          outputs=[ctx.prompt, ctx.negative_prompt, chosen])
    return {"styles": chosen}


def build_tab(ctx: ext.TabContext, store: Store, problem: Callable[[], str] = lambda: "") -> None:
    """The Styles tab: pick a style to edit it, save it (new or changed), or delete it. The styles file is
    everyone's: only an admin saves or deletes (the others see the styles, read-only)."""
    import gradio as gr

    def listing():
        return list(store().load())

    gr.Markdown(f"Styles are kept in `{store().path.name}` (A1111's format: name, prompt, negative_prompt). "
                "Write `{prompt}` where the prompt should go; without it the style is appended.")
    if problem():
        gr.Markdown(f"⚠️ {problem()}", elem_id="styles_problem")
    pick = gr.Dropdown(listing(), label="Style", allow_custom_value=True, elem_id="styles_pick")
    name = gr.Textbox(label="Name", elem_id="styles_name")
    prompt = gr.Textbox(label="Prompt", lines=2, elem_id="styles_prompt")
    negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="styles_negative")
    readonly = gr.Markdown("The styles are shared by everyone: only an admin can save or delete them.",
                           visible=False, elem_id="styles_readonly")
    with gr.Row(visible=False, elem_id="styles_editor_buttons") as buttons:
        save = gr.Button("Save style", variant="primary", elem_id="styles_save")
        delete = gr.Button("Delete style", elem_id="styles_delete")
    result = gr.Markdown(elem_id="styles_result")
    ctx.show_to_admins([buttons], [readonly])

    def show(chosen):
        style = store().load().get(chosen or "")
        if style is None:
            return chosen or "", "", ""
        return style.name, style.prompt, style.negative_prompt

    def do_save(n, p, neg):
        try:
            store().put(Style(n or "", p or "", neg or ""))
        except (OSError, ValueError) as exc:
            return f"Not saved: {exc}", gr.update()
        return f"Saved style {n.strip()!r}.", gr.update(choices=listing(), value=n.strip())

    def do_delete(n):
        removed = store().delete(n or "")
        message = f"Deleted style {n!r}." if removed else f"There is no style {n!r}."
        return message, gr.update(choices=listing(), value=None)

    pick.change(show, inputs=[pick], outputs=[name, prompt, negative])
    save.click(ctx.admin_only(do_save, "change the styles"), inputs=[name, prompt, negative], outputs=[result, pick])
    delete.click(ctx.admin_only(do_delete, "change the styles"), inputs=[name], outputs=[result, pick])
