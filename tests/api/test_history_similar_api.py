"""POST /api/v1/history/similar and GET /api/v1/prompt-suggestions: per user, behind the login, bad input
refused with what to send."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw

from tests.api.conftest import basic


def drawn(colour: tuple[int, int, int], background: tuple[int, int, int], square: bool = False) -> Image.Image:
    image = Image.new("RGB", (48, 48), background)
    (ImageDraw.Draw(image).rectangle if square else ImageDraw.Draw(image).ellipse)((12, 12, 36, 36), fill=colour)
    return image


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


RED, BLUE, GREEN, BLACK = (220, 30, 30), (35, 75, 225), (30, 165, 55), (20, 20, 20)


def save(services, image: Image.Image, prompt: str, user: str | None) -> None:
    text = f"{prompt}\nSteps: 1, Sampler: Euler a, Seed: 1, Size: 48x48, Model: tiny-a"
    services.outputs.save(image, "txt2img-images", 1, text, user=user)


def test_a_user_finds_their_most_similar_pictures_with_their_prompts(client, services):
    save(services, drawn(GREEN, BLACK, square=True), "green square on black", "alice")
    save(services, drawn(RED, BLUE), "red circle on blue", "alice")
    save(services, drawn(RED, BLUE), "bob's red circle on blue", "bob")
    answer = client.post("/api/v1/history/similar", headers=basic("alice"),
                         json={"image": "data:image/png;base64," + b64(drawn(RED, BLUE)), "limit": 5})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [i["prompt"] for i in found["items"]] == ["red circle on blue", "green square on black"]
    first = found["items"][0]
    assert first["owner"] == "alice" and first["score"] > found["items"][1]["score"]
    assert first["thumbnail_url"].endswith("/thumbnail") and found["kind"] == "perceptual-v1"
    admin = client.post("/api/v1/history/similar", headers=basic("root"), json={"image": b64(drawn(RED, BLUE))})
    assert sorted(i["owner"] for i in admin.json()["items"]) == ["alice", "alice", "bob"]


def test_similar_to_a_history_picture_by_id_leaves_it_out_and_refuses_someone_elses(client, services):
    save(services, drawn(RED, BLUE), "red circle", "alice")
    save(services, drawn(GREEN, BLACK, square=True), "green square", "alice")
    save(services, drawn(RED, BLUE), "bob's circle", "bob")
    items = client.get("/api/v1/history", headers=basic("alice")).json()["items"]
    red = next(i for i in items if i["prompt"] == "red circle")
    found = client.post("/api/v1/history/similar", headers=basic("alice"), json={"id": red["id"]}).json()
    assert [i["prompt"] for i in found["items"]] == ["green square"]
    assert client.post("/api/v1/history/similar", headers=basic("bob"), json={"id": red["id"]}).status_code == 404


def test_bad_requests_say_what_to_send(client, services):
    post = lambda body: client.post("/api/v1/history/similar", headers=basic("alice"), json=body)  # noqa: E731
    neither = post({"limit": 3})
    assert neither.status_code == 422 and "either `image`" in neither.text
    assert post({"image": b64(drawn(RED, BLUE)), "id": 1}).status_code == 422
    broken = post({"image": "bm90IGEgcGljdHVyZQ=="})
    assert broken.status_code == 422 and "could not be read as a picture" in broken.text
    assert post({"image": b64(drawn(RED, BLUE)), "limit": 0}).status_code == 422
    misspelt = post({"imgae": b64(drawn(RED, BLUE))})
    assert misspelt.status_code == 422 and "imgae" in misspelt.text
    assert client.post("/api/v1/history/similar", json={"image": b64(drawn(RED, BLUE))}).status_code == 401
    assert client.get("/api/v1/prompt-suggestions", params={"prefix": "a"}).status_code == 401


def test_prompt_suggestions_come_from_the_callers_own_prompts(client, services):
    for prompt in ("a blue fox, masterpiece", "a red fox, masterpiece", "moonlit castle"):
        save(services, drawn(RED, BLUE), prompt, "alice")
    save(services, drawn(RED, BLUE), "bob's mysterious boat", "bob")
    ask = lambda user, prefix: client.get("/api/v1/prompt-suggestions", params={"prefix": prefix},  # noqa: E731
                                          headers=basic(user))
    alice = ask("alice", "m").json()["items"]
    assert [(i["text"], i["kind"], i["uses"]) for i in alice] == [("masterpiece", "prompt", 2),
                                                                  ("moonlit castle", "prompt", 1)]
    assert ask("bob", "m").json()["items"][0]["text"] == "bob's mysterious boat"
    assert all("mysterious" not in i["text"] for i in ask("alice", "my").json()["items"])
    assert ask("root", "moon").json()["items"] == []  # an admin is shown their own prompts only
    assert ask("alice", "x" * 201).status_code == 422


def test_the_routes_are_documented(client):
    page = client.get("/docs", headers=basic("alice")).text
    assert "/api/v1/history/similar" in page and "/api/v1/prompt-suggestions" in page
