"""The History tab: search past pictures by prompt and filters, look at one, reuse it, trash it (with undo).

The grid shows cached thumbnails only; the full picture is loaded for the one being looked at. Everything is
read through `services.history` with the user's scope: their own pictures, or everybody's for an admin.

`build` lays the tab out (`_layout`), then wires search and paging (`_Search`, built on the form -> query step
`make_query`), the picture being looked at, sending it to other tabs, the trash and the folder import.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.service.history import Entry, History, Query, parse_day
from modules.service.history_import import import_folder
from modules.ui import detailer_panel, history_similar, regions_panel
from modules.ui.img2img import Img2ImgTab, SendToImg2Img
from modules.ui.outputs_view import SHOWN_BUTTONS
from modules.ui.pnginfo import fields_html, txt2img_outputs, txt2img_updates, txt2img_values
from modules.ui.roles import may_administer, show_to_admins
from modules.ui.txt2img import Txt2ImgTab

if TYPE_CHECKING:
    from modules.service.services import Services

PER_PAGE = 30
MODES = ["", "txt2img", "img2img", "inpaint"]


def scope_of(services: Services, request: gr.Request | None) -> str | None:
    """Whose pictures this browser user sees: None (everybody's) for an admin or an instance without logins."""
    name = getattr(request, "username", None)
    if not name:
        return None
    accounts = services.accounts
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


def search_label(query: Query) -> str:
    """The gallery's title for a text search: what it shows and in which order."""
    return "Pictures in the trash, newest first" if query.trashed else "Pictures, newest first"


def import_as(services: Services, folder: str, for_user: str, request: Any) -> str:
    """Import a server folder for `for_user` (default: the caller); only admins, or anyone without accounts."""
    name = getattr(request, "username", None)
    if not may_administer(services.accounts, request):
        raise PermissionError("Only an admin can import folders from the server's disk.")
    owner = (for_user or "").strip() or name  # None without accounts: the shared layout
    accounts = services.accounts
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


# ------------------------------------------------------------------------------------------ layout
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


@dataclass
class _Pager:
    search: Any
    prev: Any
    info: Any
    next: Any


def _pager() -> _Pager:
    with gr.Row():
        search = gr.Button("Search", variant="primary", elem_id="history_search", scale=0, min_width=120)
        prev = gr.Button("◀ Newer", elem_id="history_prev", scale=0, min_width=120)
        info = gr.Markdown(elem_id="history_page")
        next_ = gr.Button("Older ▶", elem_id="history_next", scale=0, min_width=120)
    return _Pager(search, prev, info, next_)


@dataclass
class _Viewer:
    """The picture being looked at: what it shows, what can be done with it, and the status line."""

    picture: Any
    prompt: Any
    to_txt2img: Any
    to_img2img: Any
    to_inpaint: Any
    to_controlnet: Any
    reuse_seed: Any
    download: Any
    delete: Any
    restore: Any
    undo: Any
    status: Any
    fields: Any
    infotext: Any


def _viewer(with_controlnet: bool) -> _Viewer:
    picture = gr.Image(label="Picture", type="filepath", format="png", interactive=False, height=320,
                       elem_id="history_image", buttons=SHOWN_BUTTONS)
    prompt = gr.Textbox(label="Prompt", lines=2, interactive=False, buttons=["copy"], elem_id="history_prompt")
    with gr.Row():
        to_txt2img = gr.Button("Send to txt2img", size="sm", elem_id="history_send_txt2img")
        to_img2img = gr.Button("Send to img2img", size="sm", elem_id="history_send_img2img")
        to_inpaint = gr.Button("Send to inpaint", size="sm", elem_id="history_send_inpaint")
        to_controlnet = gr.Button("Send to ControlNet", size="sm", elem_id="history_send_controlnet",
                                  visible=with_controlnet)
        reuse_seed = gr.Button("♻️ Reuse seed", size="sm", elem_id="history_reuse_seed")
    with gr.Row():
        download = gr.DownloadButton("Download", size="sm", elem_id="history_download", interactive=False)
        delete = gr.Button("🗑️ Delete", size="sm", variant="stop", elem_id="history_delete")
        restore = gr.Button("Restore", size="sm", visible=False, elem_id="history_restore")
        undo = gr.Button("Undo delete", size="sm", visible=False, elem_id="history_undo")
    status = gr.Markdown(elem_id="history_status")
    fields = gr.HTML(elem_id="history_fields")
    infotext = gr.Textbox(label="Parameters", lines=4, interactive=False, buttons=["copy"], elem_id="history_infotext")
    return _Viewer(picture, prompt, to_txt2img, to_img2img, to_inpaint, to_controlnet, reuse_seed, download, delete,
                   restore, undo, status, fields, infotext)


@dataclass
class _TrashBox:
    empty: Any
    confirm_row: Any
    confirm_text: Any
    confirm: Any
    cancel: Any


def _trash_box() -> _TrashBox:
    with gr.Accordion("Trash", open=False):
        empty = gr.Button("Empty the trash…", size="sm", elem_id="history_empty_trash")
        with gr.Row(visible=False) as confirm_row:
            confirm_text = gr.Markdown(elem_id="history_confirm_text")
            confirm = gr.Button("Delete them for good", variant="stop", size="sm", elem_id="history_confirm_empty")
            cancel = gr.Button("Keep them", size="sm", elem_id="history_cancel_empty")
    return _TrashBox(empty, confirm_row, confirm_text, confirm, cancel)


@dataclass
class _ImportBox:
    folder: Any
    user: Any
    button: Any
    box: Any = None  # the accordion: shown only to admins (import_as checks again)


def _import_box() -> _ImportBox:
    with gr.Accordion("Import a folder of pictures", open=False, visible=False, elem_id="history_import_box") as box:
        gr.Markdown("Pictures in a folder on this server (ours, or A1111's `outputs/`) are linked into "
                    "outputs/imported/ with their parameters; the folder itself is not changed. Admins only.")
        with gr.Row():
            folder = gr.Textbox(label="Folder on the server", elem_id="history_import_folder", scale=3)
            user = gr.Textbox(label="For user (empty: yourself)", elem_id="history_import_user")
        button = gr.Button("Import", size="sm", elem_id="history_import")
    return _ImportBox(folder, user, button, box)


@dataclass
class _Layout:
    form: _Form
    pager: _Pager
    gallery: Any
    viewer: _Viewer
    trash: _TrashBox
    importer: _ImportBox
    ids: Any  # gr.State: the entry ids the grid shows, in its order
    page: Any  # gr.State: the page shown
    selected: Any  # gr.State: the id of the picture being looked at
    last_deleted: Any  # gr.State: the id "Undo delete" restores
    similar: history_similar.SimilarPanel | None = None  # search by picture (history_similar.py)


def _layout(with_controlnet: bool) -> _Layout:
    form = _form()
    pager = _pager()
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label=search_label(Query()), columns=5, height=640, allow_preview=False,
                                 fit_columns=False,  # one result stays a thumbnail, not a full-width picture
                                 object_fit="contain", elem_id="history_gallery")
        with gr.Column(scale=2):
            viewer = _viewer(with_controlnet)
            similar = history_similar.panel()
            trash = _trash_box()
            importer = _import_box()
    return _Layout(form, pager, gallery, viewer, trash, importer, ids=gr.State([]), page=gr.State(1),
                   selected=gr.State(None), last_deleted=gr.State(None), similar=similar)


# ------------------------------------------------------------------------------------------ build and wire
def build(services: Services, tab: Any, txt2img: Txt2ImgTab, img2img: Img2ImgTab, tabs: Any) -> None:
    """Lay out the tab inside `tab` and wire it to txt2img, img2img and the top-level `tabs`."""
    if services.history is None:
        raise ValueError("The History tab needs services.history (build_services makes one); leave the tab out "
                         "without it, as build_ui does.")
    layout = _layout(with_controlnet=bool(_controlnet_units(txt2img)))
    pictures = _Pictures(services, services.history)
    search = _Search(pictures, layout.form, layout.page, [layout.gallery, layout.ids, layout.page, layout.pager.info])
    _wire_search(search, layout.pager, tab)
    _wire_viewer(pictures, layout)
    _wire_sending(pictures, layout, txt2img, img2img, tabs)
    _wire_trash(pictures, search, layout)
    _wire_import(pictures, search, layout)
    if services.similar is not None and layout.similar is not None:
        history_similar.wire(services.similar, services.history, pictures.scope, layout.similar, layout.gallery,
                             layout.ids, layout.pager.info, layout.selected)


def _controlnet_units(txt2img: Txt2ImgTab) -> list[Any]:
    return txt2img.controlnet.units if txt2img.controlnet is not None else []


@dataclass
class _Pictures:
    """What the handlers read and change in `history`, always in the browser user's scope."""

    services: Services
    history: History

    def scope(self, request: gr.Request | None) -> str | None:
        return scope_of(self.services, request)

    def entry(self, image_id: int | None, request: gr.Request) -> Entry:
        """The picture with this id, if the user may see it; gr.Error with a message otherwise."""
        if image_id is None:
            raise gr.Error("Pick a picture first.")
        try:
            return self.history.get(image_id, self.scope(request))
        except LookupError as exc:
            raise gr.Error(str(exc)) from None

    def picture(self, entry: Entry) -> Image.Image:
        with Image.open(self.history.file_of(entry)) as image:
            image.load()
            return image.convert("RGB")


@dataclass
class _Search:
    """Search and paging: the form as a query in the user's scope, one page of the grid at a time."""

    pictures: _Pictures
    form: _Form
    page: Any  # gr.State: the page shown
    outputs: list[Any]  # not the status line: a search that follows a delete must not wipe its "Undo" message

    def run(self, page_no: int, values: tuple[Any, ...], request: gr.Request | None):
        history, owner = self.pictures.history, self.pictures.scope(request)
        try:
            query = make_query(*values)
        except ValueError as exc:
            return gr.update(), gr.update(), gr.update(), f"⚠️ {exc}"
        found = history.search(query, owner, page=page_no, per_page=PER_PAGE)
        if found.page > found.pages:  # the last page emptied (e.g. after a delete): show the one before
            found = history.search(query, owner, page=found.pages, per_page=PER_PAGE)
        items, shown = grid(history, found.entries)
        # The label is set again on every search: a search by picture before it retitled the gallery.
        return (gr.update(value=items, label=search_label(query)), shown, found.page,
                page_text(found.page, found.pages, found.total))

    # Handlers spell out their parameters: Gradio finds `request: gr.Request` by signature.
    def first_page(self):
        def search(text, checkpoint, lora, mode, size, since, until, trash, request: gr.Request):
            return self.run(1, (text, checkpoint, lora, mode, size, since, until, trash), request)
        return search

    def turn(self, step: int):
        def go(page_no, text, checkpoint, lora, mode, size, since, until, trash, request: gr.Request):
            return self.run(max(1, page_no + step), (text, checkpoint, lora, mode, size, since, until, trash),
                            request)
        return go

    def show_again_after(self, event: Any) -> None:
        """When `event` (which changed the pictures) succeeds, show the current page again."""
        event.then(self.turn(0), inputs=[self.page, *self.form.inputs()], outputs=self.outputs)


def _wire_search(search: _Search, pager: _Pager, tab: Any) -> None:
    """Search, Enter in the query, the trash switch, the page buttons; opening the tab also refreshes the
    filters' choices (checkpoints, LoRAs and sizes in the user's pictures)."""
    form, pictures = search.form, search.pictures
    first_page = search.first_page()
    for trigger in (pager.search.click, form.query.submit, form.trash.change):
        trigger(first_page, inputs=form.inputs(), outputs=search.outputs)
    pager.prev.click(search.turn(-1), inputs=[search.page, *form.inputs()], outputs=search.outputs)
    pager.next.click(search.turn(+1), inputs=[search.page, *form.inputs()], outputs=search.outputs)

    def facets(request: gr.Request):
        found = pictures.history.facets(pictures.scope(request))
        return (gr.update(choices=[""] + found["checkpoints"]), gr.update(choices=[""] + found["loras"]),
                gr.update(choices=[""] + found["sizes"]))

    tab.select(first_page, inputs=form.inputs(), outputs=search.outputs).then(
        facets, outputs=[form.checkpoint, form.lora, form.size])


def _wire_viewer(pictures: _Pictures, layout: _Layout) -> None:
    """A click in the grid shows that picture, its parameters and the buttons that fit (Restore in the trash)."""
    v = layout.viewer

    def show(shown: list[int], evt: gr.SelectData, request: gr.Request):
        entry = pictures.entry(shown[evt.index] if evt.index is not None and evt.index < len(shown) else None,
                               request)
        try:
            path = str(pictures.history.file_of(entry))
        except LookupError as exc:  # a damaged row pointing outside the outputs: never shown
            raise gr.Error(str(exc)) from None
        in_trash = entry.trashed is not None
        return (entry.id, path, entry.prompt, details_html(entry), entry.infotext,
                gr.update(value=path, interactive=True), gr.update(visible=in_trash), gr.update(visible=not in_trash))

    layout.gallery.select(show, inputs=[layout.ids], outputs=[layout.selected, v.picture, v.prompt, v.fields,
                                                                v.infotext, v.download, v.restore, v.delete])


def _wire_sending(pictures: _Pictures, layout: _Layout, txt2img: Txt2ImgTab, img2img: Img2ImgTab, tabs: Any) -> None:
    """Send to txt2img (its parameters), to img2img or inpaint (the picture too), to txt2img's first ControlNet
    unit (the picture), and Reuse seed."""
    v, selected, services = layout.viewer, layout.selected, pictures.services

    def send_txt2img(image_id: int | None, request: gr.Request):
        entry = pictures.entry(image_id, request)
        if not entry.infotext:
            raise gr.Error("This picture carries no generation parameters.")
        updates, message = txt2img_updates(services, entry.infotext, txt2img.hires, txt2img.refiner,
                                           txt2img.controlnet, txt2img.step_cache,
                                           modules=txt2img.additional_modules is not None)
        return [*updates, message, gr.Tabs(selected="txt2img")]

    v.to_txt2img.click(send_txt2img, inputs=[selected], outputs=[*txt2img_outputs(txt2img), v.status, tabs])
    if txt2img.detailer is not None:  # ADetailer's units too
        detailer_panel.connect_send(txt2img.detailer, services, v.to_txt2img, [selected],
                                    lambda image_id, request: pictures.entry(image_id, request).infotext)
    if txt2img.regions is not None:  # the regions too
        regions_panel.connect_send(txt2img.regions, v.to_txt2img, [selected],
                                   lambda image_id, request: pictures.entry(image_id, request).infotext)

    def sender(sending: SendToImg2Img):
        def send(image_id: int | None, request: gr.Request):
            entry = pictures.entry(image_id, request)
            picture = pictures.picture(entry)
            values, message = txt2img_values(services.samplers, entry.infotext) if entry.infotext else ({}, "")
            note = message.replace("txt2img", sending.target) if message else f"Sent to {sending.target}."
            return [*sending.updates(picture, values), note]
        return send

    for button, target in ((v.to_img2img, "img2img"), (v.to_inpaint, "inpaint")):
        sending = SendToImg2Img(img2img, tabs, target)
        button.click(sender(sending), inputs=[selected], outputs=[*sending.outputs(), v.status])

    units = _controlnet_units(txt2img)
    if units:
        def send_controlnet(image_id: int | None, request: gr.Request):
            picture = pictures.picture(pictures.entry(image_id, request))
            return (picture, True, gr.Tabs(selected="txt2img"),  # the unit canvas's background, its layer empty
                    "Sent to txt2img's ControlNet unit 0 (enabled): pick its preprocessor and model there.",
                    gr.Accordion(open=True))

        v.to_controlnet.click(send_controlnet, inputs=[selected], outputs=[units[0].image, units[0].enabled, tabs,
                                                                             v.status, txt2img.controlnet.accordion])

    def reuse(image_id: int | None, request: gr.Request):
        entry = pictures.entry(image_id, request)
        if entry.seed is None:
            raise gr.Error("This picture's parameters have no seed.")
        return entry.seed, f"Seed {entry.seed} set in txt2img.", gr.Tabs(selected="txt2img")

    v.reuse_seed.click(reuse, inputs=[selected], outputs=[txt2img.seed, v.status, tabs])


def _wire_trash(pictures: _Pictures, search: _Search, layout: _Layout) -> None:
    """Delete (to the trash, with Undo), Restore, and Empty the trash (after a confirmation)."""
    v, trash = layout.viewer, layout.trash
    cleared = [layout.selected, v.picture, v.prompt, v.fields, v.infotext, v.download]

    def clear() -> list[Any]:
        return [None, None, "", "", "", gr.update(value=None, interactive=False)]

    def do_delete(image_id: int | None, request: gr.Request):
        entry = pictures.entry(image_id, request)
        pictures.history.trash(entry.id, pictures.scope(request))
        return [*clear(), entry.id, gr.update(visible=True),
                f"Moved {entry.name} to the trash. **Undo delete** brings it back."]

    search.show_again_after(v.delete.click(do_delete, inputs=[layout.selected],
                                           outputs=[*cleared, layout.last_deleted, v.undo, v.status]))

    def do_restore(image_id: int | None, request: gr.Request):
        entry = pictures.entry(image_id, request)
        back = pictures.history.restore(entry.id, pictures.scope(request))
        return [*clear(), None, gr.update(visible=False), gr.update(visible=False),
                f"Restored {back.name} to {back.path}."]

    for button, source in ((v.undo, layout.last_deleted), (v.restore, layout.selected)):
        search.show_again_after(button.click(do_restore, inputs=[source],
                                             outputs=[*cleared, layout.last_deleted, v.undo, v.restore, v.status]))

    def ask_empty(request: gr.Request):
        count = pictures.history.search(Query(trashed=True), pictures.scope(request), per_page=1).total
        if count == 0:
            return gr.update(visible=False), "", "The trash is empty."
        return (gr.update(visible=True),
                f"Delete the **{count}** picture(s) in the trash for good? This cannot be undone.", "")

    trash.empty.click(ask_empty, outputs=[trash.confirm_row, trash.confirm_text, v.status])
    trash.cancel.click(lambda: (gr.update(visible=False), "The trash was kept."), outputs=[trash.confirm_row, v.status])

    def do_empty(request: gr.Request):
        deleted = pictures.history.empty_trash(pictures.scope(request), confirm=True)
        return gr.update(visible=False), f"Deleted {deleted} picture(s) from the trash for good."

    search.show_again_after(trash.confirm.click(do_empty, outputs=[trash.confirm_row, v.status]))


def _wire_import(pictures: _Pictures, search: _Search, layout: _Layout) -> None:
    importer = layout.importer

    def do_import(folder: str, for_user: str, request: gr.Request):
        try:
            return import_as(pictures.services, folder, for_user, request)
        except (PermissionError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    search.show_again_after(importer.button.click(do_import, inputs=[importer.folder, importer.user],
                                                  outputs=[layout.viewer.status]))
    show_to_admins(pictures.services.accounts, [importer.box])
