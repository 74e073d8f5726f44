"""Our `/api/v1/history`: search saved pictures (paged), fetch one, its file or thumbnail, trash and restore.

Pictures are addressed by id, never by path, so no request can name a file: the path comes from the index and
is checked to lie inside the outputs folder. A user sees only their own pictures; an admin (or anyone on an
instance without accounts) sees all. Someone else's picture does not exist (404, not 403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi import Query as Param
from fastapi.responses import FileResponse
from pydantic import BaseModel

from modules.api.auth import Caller
from modules.api.schemas import BoundedRoute
from modules.service.history import MAX_PER_PAGE, Entry, History, Query, parse_day

PREFIX = "/api/v1/history"
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot be looked up (it raised OverflowError, a 500)
MAX_PAGE = 10**9
# Every word is one more condition of one SQL expression; SQLite refuses expressions deeper than 1,000 (a 500).
MAX_SEARCH_WORDS = 32
MAX_SEARCH_LENGTH = 1_000  # characters
PictureId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="the picture's id in the history")]


class HistoryItem(BaseModel):
    id: int
    path: str
    owner: str | None
    created: float
    mode: str
    checkpoint: str | None
    model_hash: str | None
    loras: list[str]
    seed: int | None
    width: int | None
    height: int | None
    prompt: str
    negative_prompt: str
    trashed: float | None = None
    image_url: str
    thumbnail_url: str
    params: dict[str, str] | None = None
    infotext: str | None = None


class HistoryPageOut(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[HistoryItem]


class EmptyTrashResult(BaseModel):
    deleted: int


def scope_of(caller: Caller) -> str | None:
    """Whose pictures the caller may see: their own, or everybody's (None) for admins and no-login instances."""
    return None if caller.is_admin or not caller.authenticated else caller.name


def item(entry: Entry, full: bool = False) -> HistoryItem:
    extra = {"params": entry.params, "infotext": entry.infotext} if full else {}
    return HistoryItem(id=entry.id, path=entry.path, owner=entry.owner, created=entry.created, mode=entry.mode,
                       checkpoint=entry.checkpoint, model_hash=entry.model_hash, loras=list(entry.loras),
                       seed=entry.seed, width=entry.width, height=entry.height, prompt=entry.prompt,
                       negative_prompt=entry.negative_prompt, trashed=entry.trashed,
                       image_url=f"{PREFIX}/{entry.id}/image", thumbnail_url=f"{PREFIX}/{entry.id}/thumbnail", **extra)


def parse_size(text: str) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    width, sep, height = text.lower().partition("x")
    try:
        sizes = int(width), int(height) if sep else None
    except ValueError:
        raise HTTPException(422, f"invalid size {text!r}: write it as WIDTHxHEIGHT, e.g. 512x768") from None
    if any(s is not None and not 0 <= s <= MAX_ID for s in sizes):  # SQLite cannot compare larger integers
        raise HTTPException(422, f"invalid size {text[:40]!r}: width and height are whole numbers of pixels")
    return sizes


def check_search_text(q: str) -> None:
    words = len(q.split())
    if words > MAX_SEARCH_WORDS or len(q) > MAX_SEARCH_LENGTH:
        raise HTTPException(422, f"The search has {words:,} words and {len(q):,} characters; at most "
                                 f"{MAX_SEARCH_WORDS} words and {MAX_SEARCH_LENGTH:,} characters are allowed. "
                                 "Search for fewer words (every word must occur).")


def build_query(q: str = "", checkpoint: str = "", lora: str = "", mode: str = "", size: str = "",
                since: str = "", until: str = "", trash: bool = False) -> Query:
    check_search_text(q)
    width, height = parse_size(size)
    try:
        return Query(text=q, checkpoint=checkpoint, lora=lora, mode=mode, width=width, height=height,
                     since=parse_day(since), until=parse_day(until, end=True), trashed=trash)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except (OverflowError, OSError) as exc:  # `until` includes its day: the day after 9999-12-31 does not exist
        raise HTTPException(422, f"until={until!r} is past the last day that can be searched ({exc}); the last "
                                 "is 9999-12-30. Write days as YYYY-MM-DD.") from None


def build_router(history: History, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["history"], route_class=BoundedRoute)
    who = Depends(current_caller)

    @router.get("", response_model=HistoryPageOut)
    def search(q: str = Param("", description="words of the prompt; every word must occur (any language)"),
               checkpoint: str = Param("", description="checkpoint name or short hash"),
               lora: str = "", mode: str = Param("", description="txt2img, img2img, inpaint"),
               size: str = Param("", description="WIDTHxHEIGHT"),
               since: str = Param("", description="first day, YYYY-MM-DD"),
               until: str = Param("", description="last day, YYYY-MM-DD (included)"),
               trash: bool = Param(False, description="search the trash instead"),
               page: int = Param(1, ge=1, le=MAX_PAGE), per_page: int = Param(50, ge=1, le=MAX_PER_PAGE),
               caller: Caller = who) -> HistoryPageOut:
        query = build_query(q, checkpoint, lora, mode, size, since, until, trash)
        found = history.search(query, scope_of(caller), page=page, per_page=per_page)
        return HistoryPageOut(total=found.total, page=found.page, per_page=found.per_page, pages=found.pages,
                              items=[item(e) for e in found.entries])

    @router.get("/{image_id}", response_model=HistoryItem)
    def get(image_id: PictureId, caller: Caller = who) -> HistoryItem:
        return item(history.get(image_id, scope_of(caller)), full=True)

    def file_response(path: Any, media_type: str | None = None) -> FileResponse:
        if not path.is_file():
            raise HTTPException(404, "The picture's file is missing; it will be dropped from the history at the "
                                     "next start.")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/{image_id}/image")
    def image(image_id: PictureId, caller: Caller = who) -> FileResponse:
        return file_response(history.file_of(history.get(image_id, scope_of(caller))))

    @router.get("/{image_id}/thumbnail")
    def thumbnail(image_id: PictureId, caller: Caller = who) -> FileResponse:
        entry = history.get(image_id, scope_of(caller))
        history.file_of(entry)  # refuses a row pointing outside the outputs before any thumbnail is made
        try:
            return file_response(history.thumbnail(entry), "image/webp")
        except FileNotFoundError:
            raise HTTPException(404, "The picture's file is missing.") from None

    @router.delete("/{image_id}", response_model=HistoryItem)
    def delete(image_id: PictureId, caller: Caller = who) -> HistoryItem:
        """Moves the picture to the trash; `POST .../restore` undoes it."""
        return item(history.trash(image_id, scope_of(caller)))

    @router.post("/{image_id}/restore", response_model=HistoryItem)
    def restore(image_id: PictureId, caller: Caller = who) -> HistoryItem:
        return item(history.restore(image_id, scope_of(caller)))

    @router.post("/trash/empty", response_model=EmptyTrashResult)
    def empty_trash(confirm: bool = False, caller: Caller = who) -> EmptyTrashResult:
        """Deletes the caller's trashed pictures for good (an admin's: everybody's). Needs `?confirm=true`."""
        if not confirm:
            raise HTTPException(409, "Emptying the trash deletes its pictures for good: repeat with ?confirm=true.")
        return EmptyTrashResult(deleted=history.empty_trash(scope_of(caller), confirm=True))

    return router
