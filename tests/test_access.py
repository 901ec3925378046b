"""Access and privacy (issue 9): hashed tokens, no token in logs, no route that shows
one account's job to another, filenames never used as paths, a private temp area."""

from __future__ import annotations

import sqlite3
import stat
import sys
import uuid as uuidlib
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import Server  # noqa: E402
from test_server import (  # noqa: E402
    TestClient,
    account,
    bearer,
    make_settings,
    png,
    serving,
    submit,
)


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    import hashlib

    settings = make_settings(tmp_path / "data")
    with serving(settings) as client:
        token = account(client, "hashy", "free")
        assert client.get("/api/v1/usage/", headers=bearer(token)).status_code == 200
    raw = (tmp_path / "data" / "ocrkit.db").read_bytes()
    wal = tmp_path / "data" / "ocrkit.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert token.encode() not in raw
    with sqlite3.connect(tmp_path / "data" / "ocrkit.db") as db:
        hashes = [r[0] for r in db.execute("SELECT secret_hash FROM tokens")]
    assert hashlib.sha256(token.encode()).hexdigest() in hashes


@pytest.mark.slow
def test_api_token_never_reaches_the_server_log(tmp_path: Path) -> None:
    from ocrkit.settings import load_settings
    from ocrkit.store import Store

    data = tmp_path / "data"
    store = Store.open(load_settings(env={}, data_dir=data))
    store.create_account("logged", "free")
    token = str(store.create_token("logged")[1])
    store.close()
    srv = Server(data).start()
    try:
        wrong = "wrong-" + token[::-1]
        assert requests.get(f"{srv.url}/api/v1/usage/?api_token={token}").status_code == 200
        assert requests.get(f"{srv.url}/api/v1/usage/?api_token={wrong}").status_code == 401
        r = requests.post(
            f"{srv.url}/api/v1/ocr/?api_token={token}", files={"file": ("a.png", png(["Log"]))}
        )
        assert r.status_code == 200
        requests.get(f"{srv.url}/api/v1/ocr/{r.json()['uuid']}/?api_token={token}")
        requests.get(f"{srv.url}/api/v1/nope?api_token={token}")
    finally:
        srv.stop()
    log = srv.log.read_text()
    assert "/api/v1/usage/" in log  # the access log is there ...
    assert token not in log and wrong not in log  # ... without the secrets


def test_no_route_shows_one_accounts_job_to_another(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    with serving(settings) as client:
        alice = account(client, "alice", "free")
        bob = account(client, "bob", "free")
        r = submit(client, png(["Alice private numbers"]), headers=bearer(alice))
        uuid = r.json()["uuid"]
        chat = client.post(
            f"/api/v1/chat/{uuid}/", json={"message": "What numbers?"}, headers=bearer(alice)
        )
        assert chat.status_code == 200, chat.text
        ghost = str(uuidlib.uuid4())
        for who in (bob, None):
            headers = bearer(who) if who else {}
            for target in (uuid, ghost, "not-a-uuid", "../../etc/passwd"):
                for method, path in _paths(target):
                    resp = _call(client, method, path, headers)
                    # chat needs an account: anonymous is 401 before anything is looked up
                    # ("../.." matches no route at all: 404 from the router)
                    want = {401} if who is None and "/chat/" in path else {404}
                    if "/../" in path:
                        want = {401, 404}
                    assert resp.status_code in want, (who, method, path, resp.status_code)
                    assert "Alice" not in resp.text
        # and alice still sees everything
        assert client.get(f"/api/v1/ocr/{uuid}/", headers=bearer(alice)).status_code == 200
        hist = client.get(f"/api/v1/chat/{uuid}/history/", headers=bearer(alice))
        assert hist.status_code == 200 and "What numbers?" in hist.text


def _paths(uuid: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/v1/ocr/{uuid}/"),
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=txt"),
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=json"),
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=pdf"),
        ("GET", f"/api/v1/ocr/{uuid}/pages/0/image"),
        ("POST", f"/api/v1/chat/{uuid}/"),
        ("GET", f"/api/v1/chat/{uuid}/history/"),
        ("DELETE", f"/api/v1/ocr/{uuid}/"),
    ]


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> object:
    if method == "POST":
        return client.post(path, json={"message": "tell me"}, headers=headers)
    return client.request(method, path, headers=headers)


@pytest.mark.parametrize(
    "name",
    [
        "../../../../../tmp/ocrkit-evil.png",
        "/etc/passwd",
        'a"; filename="evil.exe',
        "line\r\nX-Injected: yes.png",
        "..",
        "nul\x00byte.png",
    ],
)
def test_upload_filenames_are_never_paths_or_headers(tmp_path: Path, name: str) -> None:
    settings = make_settings(tmp_path / "data")
    with serving(settings) as client:
        r = client.post("/api/v1/ocr/", files={"file": (name, png(["Named badly"]))})
        assert r.status_code == 200, r.text
        uuid = r.json()["uuid"]
        d = client.get(f"/api/v1/ocr/{uuid}/download/?format=txt")
        assert d.status_code == 200
        disposition = d.headers["content-disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert "x-injected" not in {k.lower() for k in d.headers}
        assert "/" not in disposition.split("filename=", 1)[1]
    assert not Path("/tmp/ocrkit-evil.png").exists()
    assert not Path("/tmp/ocrkit-evil.txt").exists()


def test_temp_area_is_private_and_cleaned_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = make_settings(data)
    with serving(settings):
        pass
    stray = data / "uploads" / "left-over.part"
    stray.write_bytes(b"from a crash")
    with serving(settings) as client:
        for d in (data, data / "uploads", data / "results"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        assert not stray.exists()
        r = submit(client, png(["Private"]))
        assert r.status_code == 200
        images = data / "results" / r.json()["uuid"] / "images"
        assert stat.S_IMODE(images.stat().st_mode) & 0o077 == 0
