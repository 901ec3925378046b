"""The OpenAPI document against real responses of a real app (TestClient with its
lifespan, SQLite, Tesseract): a strict copy of the published schemas (no key that is not
documented, ``extra`` excepted) validates what the routes return, so a field served but
not documented, or documented but never served, fails here. The published document
keeps API.md's "extra keys are allowed"."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrkit.server.schemas import MODELS, model_schemas, strict
from ocrkit.settings import load_settings
from tests.table_pages import table_image

with warnings.catch_warnings():  # starlette warns that httpx is deprecated for its client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def png(lines: list[str]) -> bytes:
    img = Image.new("L", (1000, 120 + 70 * len(lines)), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(lines):
        draw.text((60, 60 + 70 * i), line, fill=0, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(300, 300))
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from ocrkit.server.app import create_app

    data = tmp_path_factory.mktemp("openapi") / "data"
    settings = load_settings(env={}, data_dir=data, workers=1, inline_max_pages=5)
    with TestClient(create_app(settings, warm_workers=False), follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def validator(doc: dict[str, Any], name: str) -> Any:
    """A validator of the strict copy of ``#/components/schemas/<name>``."""
    root = {"$ref": f"#/components/schemas/{name}", "components": strict(doc["components"])}
    return jsonschema_rs.Draft202012Validator(root)


def check(doc: dict[str, Any], name: str, body: Any) -> None:
    errors = [str(e) for e in validator(doc, name).iter_errors(body)]
    assert not errors, f"{name}: " + "\n".join(errors[:10])


def test_the_model_schemas_are_generated_from_the_dataclasses(doc: dict[str, Any]) -> None:
    from dataclasses import fields

    schemas = doc["components"]["schemas"]
    for cls in MODELS:
        assert set(schemas[cls.__name__]["properties"]) == {f.name for f in fields(cls)}
    assert schemas == {**schemas, **model_schemas()}
    # fields that the hand-written document had let drift are documented now
    assert {"dpi", "extra"} <= set(schemas["Job"]["properties"])
    assert "extra" in schemas["Page"]["properties"]
    assert "reserved" in schemas["Usage"]["properties"]


def test_the_published_schemas_allow_extra_keys(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert all("additionalProperties" not in s for s in schemas.values())
    job = {**_minimal_job(), "a_key_from_a_newer_server": 1}
    assert jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/Job", "components": doc["components"]}
    ).is_valid(job)
    assert not validator(doc, "Job").is_valid(job)  # the strict copy refuses it


def _minimal_job() -> dict[str, Any]:
    from ocrkit.models import Job

    return Job(status="done").to_dict()


def test_a_done_job_matches_the_strict_schema(client: TestClient, doc: dict[str, Any]) -> None:
    r = client.post(
        "/api/v1/ocr/",
        files={"file": ("report.png", png(["Quarterly report", "Total 215 USD"]))},
        data={"language": "eng"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "done" and job["pages"][0]["blocks"][0]["words"]
    check(doc, "Job", job)
    got = client.get(f"/api/v1/ocr/{job['uuid']}/")
    check(doc, "Job", got.json())


def test_a_job_with_tables_matches_the_strict_schema(
    client: TestClient, doc: dict[str, Any], tmp_path: Path
) -> None:
    path = table_image(tmp_path / "table.png", ruled=True)
    r = client.post(
        "/api/v1/ocr/",
        files={"file": ("table.png", path.read_bytes())},
        data={"language": "eng", "tool": "extract-tables"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["pages"][0]["tables"] and job["pages"][0]["tables"][0]["cells"]
    check(doc, "Job", job)


def test_lists_usage_and_options_match_the_strict_schema(
    client: TestClient, doc: dict[str, Any]
) -> None:
    store = client.app.state.ocrkit.store  # type: ignore[attr-defined]
    store.create_account("schema-check", "free")
    token = store.create_token("schema-check")[1]
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/v1/ocr/", files={"file": ("a.png", png(["Listed job"]))}, headers=auth)
    assert r.status_code == 200, r.text
    listed = client.get("/api/v1/ocr/", headers=auth).json()
    assert listed["jobs"] and "pages" not in listed["jobs"][0]
    check(doc, "JobList", listed)
    check(doc, "Usage", client.get("/api/v1/usage/", headers=auth).json())
    check(doc, "Usage", client.get("/api/v1/usage/").json())
    check(doc, "Options", client.get("/api/v1/options").json())
    check(doc, "Error", client.get("/api/v1/ocr/00000000-0000-0000-0000-000000000000/").json())


def test_chat_answers_match_the_strict_schema(client: TestClient, doc: dict[str, Any]) -> None:
    store = client.app.state.ocrkit.store  # type: ignore[attr-defined]
    store.create_account("schema-chat", "free")
    auth = {"Authorization": f"Bearer {store.create_token('schema-chat')[1]}"}
    r = client.post(
        "/api/v1/ocr/",
        files={"file": ("memo.png", png(["The meeting is on Tuesday.", "Bring the report."]))},
        data={"language": "eng"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    uuid = r.json()["uuid"]
    answer = client.post(
        f"/api/v1/chat/{uuid}/", json={"message": "When is the meeting?"}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    check(doc, "ChatAnswer", answer.json())
    check(doc, "ChatHistory", client.get(f"/api/v1/chat/{uuid}/history/", headers=auth).json())
