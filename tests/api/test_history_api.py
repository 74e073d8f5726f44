"""/api/v1/history: pictures saved by jobs are searchable, per user, behind the login; trash and restore."""

from __future__ import annotations

from PIL import Image

from modules.core.infotext import pnginfo_for
from tests.api.conftest import basic

SMALL = {"width": 16, "height": 16, "steps": 1}


def save(services, prompt: str, user: str | None, seed: int = 1, model: str = "tiny-a") -> None:
    text = f"{prompt}\nSteps: 1, Sampler: Euler a, Seed: {seed}, Size: 8x8, Model hash: 0123456789, Model: {model}"
    services.outputs.save(Image.new("RGB", (8, 8), (0, 90, 200)), "txt2img-images", seed, text, user=user)


def test_a_generated_picture_is_in_its_owners_history(client, services):
    made = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                       json={**SMALL, "prompt": "a tiny blue fox 小狐狸", "seed": 77})
    assert made.status_code == 200, made.text
    found = client.get("/api/v1/history", params={"q": "狐狸"}, headers=basic("alice")).json()
    assert found["total"] == 1
    [entry] = found["items"]
    assert (entry["owner"], entry["seed"], entry["mode"], entry["width"]) == ("alice", 77, "txt2img", 16)
    assert entry["path"].startswith("alice/txt2img-images/") and entry["checkpoint"].startswith("tiny-a")
    assert client.get("/api/v1/history", params={"q": "fox"}, headers=basic("bob")).json()["total"] == 0
    detail = client.get(f"/api/v1/history/{entry['id']}", headers=basic("alice")).json()
    assert detail["params"]["Seed"] == "77" and detail["infotext"].startswith("a tiny blue fox")


def test_search_filters_and_paging(client, services):
    for seed in range(5):
        save(services, f"castle number {seed}", "alice", seed=seed, model="tiny-b" if seed == 3 else "tiny-a")
    page = client.get("/api/v1/history", params={"q": "castle", "per_page": 2, "page": 2},
                      headers=basic("alice")).json()
    assert (page["total"], page["pages"], page["page"]) == (5, 3, 2)
    assert [i["seed"] for i in page["items"]] == [2, 1]
    only = client.get("/api/v1/history", params={"checkpoint": "tiny-b", "size": "8x8", "mode": "txt2img"},
                      headers=basic("alice")).json()
    assert [i["seed"] for i in only["items"]] == [3]
    bad = client.get("/api/v1/history", params={"since": "yesterday"}, headers=basic("alice"))
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    assert client.get("/api/v1/history", params={"per_page": 10_000}, headers=basic("alice")).status_code == 422


def test_each_user_sees_their_own_and_the_admin_sees_all(client, services):
    save(services, "alice's picture", "alice")
    save(services, "bob's picture", "bob")
    listed = {u: [i["prompt"] for i in client.get("/api/v1/history", headers=basic(u)).json()["items"]]
              for u in ("alice", "bob", "root")}
    assert listed["alice"] == ["alice's picture"] and listed["bob"] == ["bob's picture"]
    assert sorted(listed["root"]) == ["alice's picture", "bob's picture"]
    bobs = client.get("/api/v1/history", headers=basic("bob")).json()["items"][0]["id"]
    for method, url in (("GET", f"/api/v1/history/{bobs}"), ("GET", f"/api/v1/history/{bobs}/image"),
                        ("GET", f"/api/v1/history/{bobs}/thumbnail"), ("DELETE", f"/api/v1/history/{bobs}"),
                        ("POST", f"/api/v1/history/{bobs}/restore")):
        assert client.request(method, url, headers=basic("alice")).status_code == 404, (method, url)
    assert client.get(f"/api/v1/history/{bobs}/image", headers=basic("root")).status_code == 200


def test_history_needs_login(client, services):
    save(services, "private", "alice")
    for method, url in (("GET", "/api/v1/history"), ("GET", "/api/v1/history/1"), ("GET", "/api/v1/history/1/image"),
                        ("DELETE", "/api/v1/history/1"), ("POST", "/api/v1/history/trash/empty?confirm=true")):
        assert client.request(method, url).status_code == 401, (method, url)
    assert services.history.search().total == 1


def test_delete_goes_to_trash_restore_undoes_and_emptying_needs_confirm(client, services):
    save(services, "keep safe", "alice")
    entry = client.get("/api/v1/history", headers=basic("alice")).json()["items"][0]
    picture = client.get(entry["image_url"], headers=basic("alice"))
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")

    deleted = client.delete(f"/api/v1/history/{entry['id']}", headers=basic("alice")).json()
    assert deleted["trashed"] is not None
    assert client.get("/api/v1/history", headers=basic("alice")).json()["total"] == 0
    trash = client.get("/api/v1/history", params={"trash": True}, headers=basic("alice")).json()
    assert [i["id"] for i in trash["items"]] == [entry["id"]]
    assert client.get(entry["image_url"], headers=basic("alice")).content == picture.content  # still viewable

    restored = client.post(f"/api/v1/history/{entry['id']}/restore", headers=basic("alice")).json()
    assert restored["trashed"] is None and restored["path"] == entry["path"]
    assert (services.outputs.root / entry["path"]).read_bytes() == picture.content

    client.delete(f"/api/v1/history/{entry['id']}", headers=basic("alice"))
    refused = client.post("/api/v1/history/trash/empty", headers=basic("alice"))
    assert refused.status_code == 409 and "confirm=true" in refused.text
    assert client.get(entry["image_url"], headers=basic("alice")).status_code == 200
    emptied = client.post("/api/v1/history/trash/empty?confirm=true", headers=basic("alice")).json()
    assert emptied == {"deleted": 1}
    assert client.get(entry["image_url"], headers=basic("alice")).status_code == 404


def test_thumbnails_are_small_webp(client, services):
    services.outputs.save(Image.new("RGB", (640, 320), (9, 9, 9)), "txt2img-images", 1,
                          "big\nSteps: 1, Seed: 1, Size: 640x320", user="alice")
    entry = client.get("/api/v1/history", headers=basic("alice")).json()["items"][0]
    thumb = client.get(entry["thumbnail_url"], headers=basic("alice"))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert len(thumb.content) < 10_000


def test_file_routes_cannot_be_walked_out_of_the_outputs(client, services, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret, pnginfo=pnginfo_for("not for anyone"))
    save(services, "mine", "alice")
    entry = services.history.search(owner="alice").entries[0]
    for url in ("/api/v1/history/..%2F..%2Fsecret.png/image", "/api/v1/history/../../secret.png/image",
                f"/api/v1/history/{entry.id}/image/../../../secret.png", "/api/v1/history/-1/image",
                "/api/v1/history/%2e%2e/image"):
        response = client.get(url, headers=basic("alice"))
        assert response.status_code in (404, 405, 422), (url, response.status_code)
        assert b"not for anyone" not in response.content
    # Even a row that says "../secret.png" (a damaged or tampered index) is refused.
    with services.history._tx() as db:
        db.execute("UPDATE images SET path = ? WHERE id = ?", ("alice/../../secret.png", entry.id))
    for suffix in ("image", "thumbnail"):
        response = client.get(f"/api/v1/history/{entry.id}/{suffix}", headers=basic("alice"))
        assert response.status_code == 404 and b"not for anyone" not in response.content


def test_without_accounts_everyone_local_sees_the_shared_history(open_client):
    services = open_client.app.state.services
    save(services, "shared", None)
    found = open_client.get("/api/v1/history").json()
    assert [i["prompt"] for i in found["items"]] == ["shared"] and found["items"][0]["owner"] is None
