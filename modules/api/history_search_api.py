"""`POST /api/v1/history/similar` (search the history by picture) and `GET /api/v1/prompt-suggestions` (prompt
help from the caller's own history).

Similar pictures are the caller's own (an admin's or a no-login instance's: everybody's), as in
`GET /api/v1/history`; prompt suggestions are always the caller's own prompts, an admin's too, so typing never
shows another user's words.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Query as Param
from pydantic import BaseModel, ConfigDict, Field

from modules.api.auth import Caller
from modules.api.history_api import MAX_ID, PREFIX, HistoryItem, item, scope_of
from modules.api.images import decode_image
from modules.api.schemas import BoundedRoute
from modules.service.history import MAX_PER_PAGE
from modules.service.history_similar import SimilarPictures, SimilarResult
from modules.service.prompt_suggestions import MAX_PREFIX, PromptSuggestions

MAX_SUGGESTIONS = 50


class SimilarRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused with its name, never ignored

    image: str | None = Field(None, description="the picture to compare with, base64 (bare or as a data: URI)")
    id: int | None = Field(None, ge=0, le=MAX_ID, description="or: a picture of the history, by id (left out of "
                                                                "the answer)")
    limit: int = Field(30, ge=1, le=MAX_PER_PAGE, description="how many pictures at most")


class SimilarItem(HistoryItem):
    score: float = Field(description="cosine similarity of the two pictures' vectors; 1 is the same picture")


class SimilarOut(BaseModel):
    items: list[SimilarItem]
    kind: str = Field(description="what compared the pictures: perceptual-v1 (built in), or clip:<encoder>:... "
                                  "for a CLIP vision encoder in models/clip_vision")
    pending: int = Field(description="pictures still waiting for their vector (found once it is made)")


class SuggestionOut(BaseModel):
    text: str
    kind: str = Field(description="prompt (a fragment of your past prompts), lora or embedding")
    uses: int = Field(description="how many of your pictures used it")


class SuggestionsOut(BaseModel):
    items: list[SuggestionOut]


def similar_out(found: SimilarResult) -> SimilarOut:
    items = [SimilarItem(**item(found_item.entry).model_dump(), score=round(found_item.score, 6))
             for found_item in found.items]
    return SimilarOut(items=items, kind=found.kind, pending=found.pending)


def build_router(similar: SimilarPictures | None, suggestions: PromptSuggestions | None,
                 current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(tags=["history"], route_class=BoundedRoute)
    who = Depends(current_caller)

    if similar is not None:
        @router.post(f"{PREFIX}/similar", response_model=SimilarOut)
        def find_similar(body: SimilarRequest, caller: Caller = who) -> SimilarOut:
            """The caller's pictures most like the one sent (or like history picture `id`), most similar first,
            each with its prompt, as `GET /api/v1/history` lists them."""
            if (body.image is None) == (body.id is None):
                raise HTTPException(422, "Send either `image` (a picture as base64) or `id` (a picture of your "
                                         "history), not both and not neither.")
            owner = scope_of(caller)
            if body.id is not None:
                try:
                    return similar_out(similar.similar_to(body.id, owner, body.limit))
                except ValueError as exc:
                    raise HTTPException(422, str(exc)) from None
            picture = decode_image(body.image, "The picture to compare with")
            return similar_out(similar.similar(picture, owner, body.limit))

    if suggestions is not None:
        @router.get("/api/v1/prompt-suggestions", response_model=SuggestionsOut)
        def prompt_suggestions(prefix: str = Param(..., max_length=MAX_PREFIX,
                                                   description="the fragment being typed (after the last comma)"),
                               limit: int = Param(10, ge=1, le=MAX_SUGGESTIONS),
                               caller: Caller = who) -> SuggestionsOut:
            """Completions from the caller's own past prompts and the LoRA/embedding names, ranked by use."""
            owner = caller.name if caller.authenticated else None  # an admin's own prompts only, too
            found = suggestions.suggest(prefix, owner, limit)
            return SuggestionsOut(items=[SuggestionOut(text=s.text, kind=s.kind, uses=s.uses) for s in found])

    return router
