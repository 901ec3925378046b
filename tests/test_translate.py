"""The translate tool: recognition, then a text-only call per page to the text model.

The stand-in translates with a small English -> French word list (so the expected
translation is known and differs from the recognised text) and records every request.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from openai_standin import ByImage, Reply, Request, StandinServer
from PIL import Image, ImageDraw, ImageFont

from ocrkit import api
from ocrkit.errors import BadOption, EngineUnavailable
from ocrkit.settings import Settings, load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["Invoice number 4711", "Total due 215 EUR"]
FRENCH = {
    "invoice": "Facture",
    "number": "numéro",
    "total": "Total",
    "due": "dû",
    "quarterly": "Rapport",
    "report": "trimestriel",
}


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def french(text: str) -> str:
    """The stand-in's 'translation': word by word, Markdown marks and numbers kept."""
    out = []
    for line in text.splitlines():
        out.append(" ".join(FRENCH.get(w.lower(), w) for w in line.split(" ")))
    return "\n".join(out)


def translator(ocr_answer: str | None = None) -> Any:
    def handler(req: Request) -> str | Reply:
        if req.images:
            return ocr_answer or Reply(status=422, text="no OCR answer configured")
        assert "French" in req.system
        return french(req.user_text)

    return handler


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    img = Image.new("L", (800, 300), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(LINES):
        draw.text((60, 60 + 110 * i), line, font=font, fill=0)
    path = tmp_path_factory.mktemp("tr") / "invoice.png"
    img.save(path)
    return path, path.read_bytes()


def settings_for(url: str | None, tmp: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp / "data", "vlm_retries": 0, "anon_daily_pages": 100}
    if url:
        base.update(vlm_base_url=url, vlm_model="standin")
    base.update(kw)
    return load_settings(env={}, **base)


def test_translate_after_cpu_recognition_keeps_the_original(scan: Any, tmp_path: Path) -> None:
    path, _ = scan
    with StandinServer(translator()) as srv:
        s = settings_for(srv.url, tmp_path, llm_model="texty")
        job = api.ocr(path, tool="translate", translate_to="fr", settings=s, jobs=1)
        assert len(srv.requests) == 1
        body = srv.requests[0]
    # Text only, to the text model (OCRKIT_LLM_MODEL), the recognised Markdown as input.
    assert body["model"] == "texty"
    assert all(isinstance(m["content"], str) for m in body["messages"])
    p = job.pages[0]
    assert lines(p.original_text or "") == LINES
    assert body["messages"][1]["content"] == p.original_markdown
    assert lines(p.text) == ["Facture numéro 4711", "Total dû 215 EUR"] and job.text == p.text
    assert job.markdown == p.markdown and "Facture" in job.markdown
    assert job.translate_to == "fr" and job.tool == "translate" and job.engine == "tesseract"
    assert (
        job.extra["translation"]["to"] == "fra"
        and job.extra["translation"]["pages_translated"] == 1
    )
    # Blocks keep what is printed on the page (their boxes belong to it).
    assert [b.text for b in p.blocks] == LINES
    assert "Facture" in api.export(job, "txt").decode()


def test_translate_a_vlm_page_keeps_its_markdown_structure(scan: Any, tmp_path: Path) -> None:
    path, data = scan
    ocr = "# Invoice number 4711\n\n- Total due 215 EUR"
    img = Image.open(path)
    handler = translator()

    def both(req: Request) -> str | Reply:
        return ByImage([(img, ocr)])(req) if req.images else handler(req)

    with StandinServer(both) as srv:
        s = settings_for(srv.url, tmp_path)
        job = api.ocr(path, tier="vlm", tool="translate", translate_to="french", settings=s, jobs=1)
        assert len(srv.requests) == 2
    p = job.pages[0]
    assert p.original_markdown == ocr
    assert p.markdown == "# Facture numéro 4711\n\n- Total dû 215 EUR"
    assert p.text == "Facture numéro 4711\n\n- Total dû 215 EUR"
    assert p.engine == "vlm"


def test_translation_failure_keeps_the_original_with_a_warning(scan: Any, tmp_path: Path) -> None:
    path, _ = scan
    with StandinServer(lambda req: Reply(status=500, text="busy")) as srv:
        job = api.ocr(
            path,
            tool="translate",
            translate_to="de",
            settings=settings_for(srv.url, tmp_path),
            jobs=1,
        )
    p = job.pages[0]
    assert p.text == p.original_text and lines(p.text) == LINES
    assert p.extra["translate"]["ok"] is False
    assert any("not translated" in w and "HTTP 500" in w for w in job.warnings)


def test_without_a_text_model_translate_is_refused_before_any_page(
    scan: Any, tmp_path: Path
) -> None:
    path, _ = scan
    pages: list[Any] = []
    with pytest.raises(EngineUnavailable, match="OCRKIT_LLM_BASE_URL") as e:
        api.ocr(
            path,
            tool="translate",
            translate_to="fr",
            settings=settings_for(None, tmp_path),
            on_page=pages.append,
            jobs=1,
        )
    assert pages == [] and "translate needs a text model" in e.value.message


def test_translate_to_is_required_and_validated(scan: Any, tmp_path: Path) -> None:
    path, _ = scan
    s = settings_for("http://127.0.0.1:9/v1", tmp_path)
    with pytest.raises(BadOption, match="needs translate_to"):
        api.ocr(path, tool="translate", settings=s, jobs=1)
    with pytest.raises(BadOption, match="klingon"):
        api.ocr(path, tool="translate", translate_to="klingon", settings=s, jobs=1)
    with pytest.raises(BadOption, match="one language"):
        api.ocr(path, tool="translate", translate_to="fr+de", settings=s, jobs=1)


def test_cli_translate_without_a_text_model_is_a_clear_error(scan: Any, tmp_path: Path) -> None:
    path, _ = scan
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCRKIT_VLM", "OCRKIT_LLM"))}
    env["OCRKIT_DATA_DIR"] = str(tmp_path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrkit",
            "ocr",
            str(path),
            "--tool",
            "translate",
            "--translate-to",
            "fr",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 6, (r.returncode, r.stderr)
    assert "OCRKIT_LLM_BASE_URL" in r.stderr and "Traceback" not in r.stderr


def test_cli_translate_with_the_standin(scan: Any, tmp_path: Path) -> None:
    path, _ = scan
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCRKIT_VLM", "OCRKIT_LLM"))}
    with StandinServer(translator()) as srv:
        env.update(
            OCRKIT_DATA_DIR=str(tmp_path), OCRKIT_LLM_BASE_URL=srv.url, OCRKIT_LLM_MODEL="texty"
        )
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "ocrkit",
                "ocr",
                str(path),
                "--tool",
                "translate",
                "--translate-to",
                "fr",
                "-q",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert [b["model"] for b in srv.requests] == ["texty"]
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == ["Facture numéro 4711", "Total dû 215 EUR"]


def test_api_translate_end_to_end(scan: Any, tmp_path: Path) -> None:
    from ocrkit.server.app import create_app

    _, data = scan
    with StandinServer(translator()) as srv:
        s = settings_for(srv.url, tmp_path / "a", workers=1)
        with TestClient(create_app(s)) as c:
            r = c.post(
                "/api/v1/ocr/",
                files={"file": ("invoice.png", data)},
                data={"tool": "translate", "translate_to": "fr"},
            )
            assert r.status_code == 200, r.text
            job = r.json()
            assert job["status"] == "done" and job["translate_to"] == "fr"
            assert lines(job["text"]) == ["Facture numéro 4711", "Total dû 215 EUR"]
            assert lines(job["pages"][0]["original_text"]) == LINES
            txt = c.get(f"/api/v1/ocr/{job['uuid']}/download/?format=txt")
            assert txt.status_code == 200 and "Facture" in txt.text
            for bad, why in (
                ({"tool": "translate"}, "translate_to"),
                ({"tool": "translate", "translate_to": "xx-nope"}, "xx"),
            ):
                r = c.post("/api/v1/ocr/", files={"file": ("invoice.png", data)}, data=bad)
                assert r.status_code == 400 and why in r.json()["detail"], r.text
    with TestClient(create_app(settings_for(None, tmp_path / "b", workers=1))) as c:
        r = c.post(
            "/api/v1/ocr/",
            files={"file": ("invoice.png", data)},
            data={"tool": "translate", "translate_to": "fr"},
        )
        assert r.status_code == 400, r.text
        assert "text model" in r.json()["detail"] and "OCRKIT_LLM_BASE_URL" in r.json()["detail"]


def test_tools_are_listed_as_plugins() -> None:
    from ocrkit.plugins import get_registry

    reg = get_registry()
    assert {"translate", "handwriting-to-text"} <= set(reg.tools)
    assert reg.tools["handwriting-to-text"].preset["tier"] == "vlm"
    names = {p["name"]: p for p in reg.plugins_info()}
    for ep in ("vlm", "translate_tool", "handwriting_tool"):
        assert names[ep]["builtin"] and names[ep]["status"] == "loaded"
