"""The History tab: search past pictures by prompt and filters, look at one, reuse it, trash it (with undo).

The grid shows cached thumbnails only; the full picture is loaded for the one being looked at. Everything is
read through `services.history` with the user's scope: their own pictures, or everybody's for an admin.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from modules.service.history import Entry, History, Query, parse_day
from modules.service.history_import import import_folder
from modules.ui.img2img import INPAINT_TABS, fit_size
from modules.ui.pnginfo import fields_html, txt2img_outputs, txt2img_updates, txt2img_values

PER_PAGE = 30
MODES = ["", "txt2img", "img2img", "inpaint"]
IMG2IMG_COPIED = ("prompt", "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale")


def scope_of(services: Any, request: gr.Request | None) -> str | None:
    """Whose pictures this browser user sees: None (everybody's) for an admin or an instance without logins."""
    name = getattr(request, "username", None)
    if not name:
        return None
    accounts = getattr(services, "accounts", None)
    return None if accounts is not None and accounts.is_admin(name) else name


def make_query(text: str, checkpoint: str, lora: str, mode: str, size: str, since: str, until: str,
               trash: bool) -> Query:
    """The form as a Query; ValueError with a message for the user when a date or size can't be read."""
    width = height = None
    if size:
        w, sep, h = size.lower().partition("x")
        if not (sep and w.strip().isdigit() and h.strip().isdigit()):
            raise ValueError(f"invalid size {size!r}: write it as WIDTHxHEIGHT, e.g. 512x768")
        width, height = int(w), int(h)
    return Query(text=text or "", checkpoint=checkpoint or "", lora=lora or "", mode=mode or "", width=width,
                 height=height, since=parse_day(since), until=parse_day(until, end=True), trashed=bool(trash))


def import_as(services: Any, folder: str, for_user: str, request: Any) -> str:
    """Import a server folder for `for_user` (default: the caller); only admins, or anyone without accounts."""
    name = getattr(request, "username", None)
    if name and scope_of(services, request) is not None:
        raise PermissionError("Only an admin can import folders from the server's disk.")
    owner = (for_user or "").strip() or name  # None without accounts: the shared layout
    accounts = getattr(services, "accounts", None)
    if owner and accounts is not None and accounts.get(owner) is None:
        raise ValueError(f"There is no account {owner!r}.")
    source = Path((folder or "").strip()).expanduser()
    if not source.is_absolute():  # a relative path would silently mean "relative to wherever the server runs"
        raise ValueError("Give the folder's full path on the server, e.g. /home/me/stable-diffusion-webui/outputs")
    return f"Import of {source}: {import_folder(services.history, source, owner)}."


def caption(entry: Entry) -> str:
    when = datetime.fromtimestamp(entry.created).strftime("%Y-%m-%d %H:%M")
    return f"{when} · seed {entry.seed}" if entry.seed is not None else when


def grid(history: History, entries: list[Entry]) -> tuple[list[tuple[str, str]], list[int]]:
    """(thumbnail, caption) pairs and the ids they show; a picture whose file vanished is left out."""
    items, ids = [], []
    for entry in entries:
        try:
            items.append((str(history.thumbnail(entry)), caption(entry)))
        except (OSError, LookupError, ValueError):  # gone or unreadable: repair drops it at the next start
            continue
        ids.append(entry.id)
    return items, ids


def details_html(entry: Entry) -> str:
    owner = f" · {html.escape(entry.owner)}" if entry.owner else ""
    trashed = " · <b>in the trash</b>" if entry.trashed is not None else ""
    head = (f"<p>{html.escape(entry.path)} · {entry.width}x{entry.height} · {entry.mode}{owner}{trashed}</p>")
    return head + fields_html(entry.infotext or None, {})


def page_text(page: int, pages: int, total: int) -> str:
    return f"Page {page} of {pages} · {total} picture{'s' if total != 1 else ''}"


@dataclass
class _Form:
    query: Any
    checkpoint: Any
    lora: Any
    mode: Any
    size: Any
    since: Any
    until: Any
    trash: Any

    def inputs(self) -> list[Any]:
        return [self.query, self.checkpoint, self.lora, self.mode, self.size, self.since, self.until, self.trash]


def _form() -> _Form:
    with gr.Row():
        query = gr.Textbox(label="Search prompts", placeholder="e.g. blue fox, 狐狸 (every word must occur)",
                           elem_id="history_query", scale=4)
        trash = gr.Checkbox(label="Show the trash", value=False, elem_id="history_show_trash", scale=0, min_width=140)
    with gr.Row():
        checkpoint = gr.Dropdown([""], value="", label="Checkpoint", allow_custom_value=True,
                                 elem_id="history_checkpoint")
        lora = gr.Dropdown([""], value="", label="LoRA", allow_custom_value=True, elem_id="history_lora")
        mode = gr.Dropdown(MODES, value="", label="Mode", elem_id="history_mode")
        size = gr.Dropdown([""], value="", label="Size", allow_custom_value=True, elem_id="history_size")
        since = gr.Textbox(label="From (YYYY-MM-DD)", elem_id="history_since")
        until = gr.Textbox(label="To (YYYY-MM-DD)", elem_id="history_until")
    return _Form(query, checkpoint, lora, mode, size, since, until, trash)


def build(services: Any, tab: Any, txt2img: Any, img2img: Any, tabs: Any) -> None:
    """Lay out the tab inside `tab` and wire it to txt2img, img2img and the top-level `tabs`."""
    history: History = services.history
    form = _form()
    with gr.Row():
        search_btn = gr.Button("Search", variant="primary", elem_id="history_search", scale=0, min_width=120)
        prev_btn = gr.Button("◀ Newer", elem_id="history_prev", scale=0, min_width=120)
        page_info = gr.Markdown(elem_id="history_page")
        next_btn = gr.Button("Older ▶", elem_id="history_next", scale=0, min_width=120)
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Pictures, newest first", columns=5, height=640, allow_preview=False,
                                 fit_columns=False,  # one result stays a thumbnail, not a full-width picture
                                 object_fit="contain", elem_id="history_gallery")
        with gr.Column(scale=2):
            picture = gr.Image(label="Picture", type="filepath", format="png", interactive=False, height=320,
                               elem_id="history_image")
            prompt = gr.Textbox(label="Prompt", lines=2, interactive=False, buttons=["copy"], elem_id="history_prompt")
            with gr.Row():
                to_txt2img = gr.Button("Send to txt2img", size="sm", elem_id="history_send_txt2img")
                to_img2img = gr.Button("Send to img2img", size="sm", elem_id="history_send_img2img")
                to_inpaint = gr.Button("Send to inpaint", size="sm", elem_id="history_send_inpaint")
                to_controlnet = gr.Button("Send to ControlNet", size="sm", elem_id="history_send_controlnet",
                                          visible=bool(getattr(getattr(txt2img, "controlnet", None), "units", None)))
                reuse_seed = gr.Button("♻️ Reuse seed", size="sm", elem_id="history_reuse_seed")
            with gr.Row():
                download = gr.DownloadButton("Download", size="sm", elem_id="history_download", interactive=False)
                delete = gr.Button("🗑️ Delete", size="sm", variant="stop", elem_id="history_delete")
                restore = gr.Button("Restore", size="sm", visible=False, elem_id="history_restore")
                undo = gr.Button("Undo delete", size="sm", visible=False, elem_id="history_undo")
            status = gr.Markdown(elem_id="history_status")
            fields = gr.HTML(elem_id="history_fields")
            infotext = gr.Textbox(label="Parameters", lines=4, interactive=False, buttons=["copy"],
                                  elem_id="history_infotext")
            with gr.Accordion("Trash", open=False):
                empty_btn = gr.Button("Empty the trash…", size="sm", elem_id="history_empty_trash")
                with gr.Row(visible=False) as confirm_row:
                    confirm_text = gr.Markdown(elem_id="history_confirm_text")
                    confirm_btn = gr.Button("Delete them for good", variant="stop", size="sm",
                                            elem_id="history_confirm_empty")
                    cancel_btn = gr.Button("Keep them", size="sm", elem_id="history_cancel_empty")
            with gr.Accordion("Import a folder of pictures", open=False):
                gr.Markdown("Pictures in a folder on this server (ours, or A1111's `outputs/`) are linked into "
                            "outputs/imported/ with their parameters; the folder itself is not changed. Admins only.")
                with gr.Row():
                    import_folder_box = gr.Textbox(label="Folder on the server", elem_id="history_import_folder",
                                                   scale=3)
                    import_user = gr.Textbox(label="For user (empty: yourself)", elem_id="history_import_user")
                import_btn = gr.Button("Import", size="sm", elem_id="history_import")
    ids, page, selected, last_deleted = gr.State([]), gr.State(1), gr.State(None), gr.State(None)

    # ------------------------------------------------------------------------------------------ search
    def run(page_no: int, values: tuple[Any, ...], request: gr.Request | None):
        owner = scope_of(services, request)
        try:
            query = make_query(*values)
        except ValueError as exc:
            return gr.update(), gr.update(), gr.update(), f"⚠️ {exc}"
        found = history.search(query, owner, page=page_no, per_page=PER_PAGE)
        if found.page > found.pages:  # the last page emptied (e.g. after a delete): show the one before
            found = history.search(query, owner, page=found.pages, per_page=PER_PAGE)
        items, shown = grid(history, found.entries)
        return items, shown, found.page, page_text(found.page, found.pages, found.total)

    # Not the status line: a search that follows a delete must not wipe its "Undo" message.
    search_outputs = [gallery, ids, page, page_info]

    # Handlers spell out their parameters: Gradio finds `request: gr.Request` by signature.
    def search(text, checkpoint, lora, mode, size, since, until, trash, request: gr.Request):
        return run(1, (text, checkpoint, lora, mode, size, since, until, trash), request)

    def turn(step: int):
        def go(page_no, text, checkpoint, lora, mode, size, since, until, trash, request: gr.Request):
            return run(max(1, page_no + step), (text, checkpoint, lora, mode, size, since, until, trash), request)
        return go

    def facets(request: gr.Request):
        found = history.facets(scope_of(services, request))
        return (gr.update(choices=[""] + found["checkpoints"]), gr.update(choices=[""] + found["loras"]),
                gr.update(choices=[""] + found["sizes"]))

    for trigger in (search_btn.click, form.query.submit, form.trash.change):
        trigger(search, inputs=form.inputs(), outputs=search_outputs)
    prev_btn.click(turn(-1), inputs=[page, *form.inputs()], outputs=search_outputs)
    next_btn.click(turn(+1), inputs=[page, *form.inputs()], outputs=search_outputs)
    tab.select(search, inputs=form.inputs(), outputs=search_outputs).then(
        facets, outputs=[form.checkpoint, form.lora, form.size])

    # ------------------------------------------------------------------------------------------ one picture
    def entry_of(image_id: int | None, request: gr.Request) -> Entry:
        if image_id is None:
            raise gr.Error("Pick a picture first.")
        try:
            return history.get(image_id, scope_of(services, request))
        except LookupError as exc:
            raise gr.Error(str(exc)) from None

    def show(shown: list[int], evt: gr.SelectData, request: gr.Request):
        entry = entry_of(shown[evt.index] if evt.index is not None and evt.index < len(shown) else None, request)
        try:
            path = str(history.file_of(entry))
        except LookupError as exc:  # a damaged row pointing outside the outputs: never shown
            raise gr.Error(str(exc)) from None
        in_trash = entry.trashed is not None
        return (entry.id, path, entry.prompt, details_html(entry), entry.infotext,
                gr.update(value=path, interactive=True), gr.update(visible=in_trash), gr.update(visible=not in_trash))

    gallery.select(show, inputs=[ids], outputs=[selected, picture, prompt, fields, infotext, download, restore,
                                                 delete])

    def send_txt2img(image_id: int | None, request: gr.Request):
        entry = entry_of(image_id, request)
        if not entry.infotext:
            raise gr.Error("This picture carries no generation parameters.")
        updates, message = txt2img_updates(services, entry.infotext, getattr(txt2img, "hires", None))
        return [*updates, message, gr.Tabs(selected="txt2img")]

    to_txt2img.click(send_txt2img, inputs=[selected], outputs=[*txt2img_outputs(txt2img), status, tabs])

    def sender(target: str):
        def send(image_id: int | None, request: gr.Request):
            entry = entry_of(image_id, request)
            pic = picture_of(entry)
            values, message = txt2img_values(services.samplers, entry.infotext) if entry.infotext else ({}, "")
            copied = [gr.update(value=values[n]) if n in values else gr.update() for n in IMG2IMG_COPIED]
            width, height = fit_size(pic)
            box = pic if target == "img2img" else {"background": pic, "layers": [], "composite": pic}
            note = message.replace("txt2img", target) if message else f"Sent to {target}."
            return (box, *copied, width, height, gr.Tabs(selected=target), gr.Tabs(selected="img2img"), target,
                    gr.update(visible=target in INPAINT_TABS), note)
        return send

    for button, target, box in ((to_img2img, "img2img", img2img.init_img), (to_inpaint, "inpaint", img2img.inpaint)):
        button.click(sender(target), inputs=[selected],
                     outputs=[box, *(getattr(img2img, n) for n in IMG2IMG_COPIED), img2img.width, img2img.height,
                              img2img.subtabs, tabs, img2img.tab, img2img.inpaint_options, status])

    def picture_of(entry: Entry) -> Image.Image:
        with Image.open(history.file_of(entry)) as image:
            image.load()
            return image.convert("RGB")

    units = getattr(getattr(txt2img, "controlnet", None), "units", None) or []
    if units:
        def send_controlnet(image_id: int | None, request: gr.Request):
            pic = picture_of(entry_of(image_id, request))
            return ({"background": pic, "layers": [], "composite": pic}, True, gr.Tabs(selected="txt2img"),
                    "Sent to txt2img's ControlNet unit 0 (enabled): pick its preprocessor and model there.")

        to_controlnet.click(send_controlnet, inputs=[selected],
                            outputs=[units[0].image, units[0].enabled, tabs, status])

    def reuse(image_id: int | None, request: gr.Request):
        entry = entry_of(image_id, request)
        if entry.seed is None:
            raise gr.Error("This picture's parameters have no seed.")
        return entry.seed, f"Seed {entry.seed} set in txt2img.", gr.Tabs(selected="txt2img")

    reuse_seed.click(reuse, inputs=[selected], outputs=[txt2img.seed, status, tabs])

    # ------------------------------------------------------------------------------------------ trash
    cleared = [selected, picture, prompt, fields, infotext, download]

    def clear() -> list[Any]:
        return [None, None, "", "", "", gr.update(value=None, interactive=False)]

    def do_delete(image_id: int | None, request: gr.Request):
        entry = entry_of(image_id, request)
        history.trash(entry.id, scope_of(services, request))
        return [*clear(), entry.id, gr.update(visible=True),
                f"Moved {entry.name} to the trash. **Undo delete** brings it back."]

    delete.click(do_delete, inputs=[selected], outputs=[*cleared, last_deleted, undo, status]).then(
        turn(0), inputs=[page, *form.inputs()], outputs=search_outputs)

    def do_restore(image_id: int | None, request: gr.Request):
        entry = entry_of(image_id, request)
        back = history.restore(entry.id, scope_of(services, request))
        return [*clear(), None, gr.update(visible=False), gr.update(visible=False),
                f"Restored {back.name} to {back.path}."]

    for button, source in ((undo, last_deleted), (restore, selected)):
        button.click(do_restore, inputs=[source], outputs=[*cleared, last_deleted, undo, restore, status]).then(
            turn(0), inputs=[page, *form.inputs()], outputs=search_outputs)

    def ask_empty(request: gr.Request):
        count = history.search(Query(trashed=True), scope_of(services, request), per_page=1).total
        if count == 0:
            return gr.update(visible=False), "", "The trash is empty."
        return (gr.update(visible=True),
                f"Delete the **{count}** picture(s) in the trash for good? This cannot be undone.", "")

    empty_btn.click(ask_empty, outputs=[confirm_row, confirm_text, status])
    cancel_btn.click(lambda: (gr.update(visible=False), "The trash was kept."), outputs=[confirm_row, status])

    def do_empty(request: gr.Request):
        deleted = history.empty_trash(scope_of(services, request), confirm=True)
        return gr.update(visible=False), f"Deleted {deleted} picture(s) from the trash for good."

    confirm_btn.click(do_empty, outputs=[confirm_row, status]).then(
        turn(0), inputs=[page, *form.inputs()], outputs=search_outputs)

    def do_import(folder: str, for_user: str, request: gr.Request):
        try:
            return import_as(services, folder, for_user, request)
        except (PermissionError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    import_btn.click(do_import, inputs=[import_folder_box, import_user], outputs=[status]).then(
        turn(0), inputs=[page, *form.inputs()], outputs=search_outputs)
