"""The vlm tier against a real HTTP stand-in model server and real Tesseract.

The stand-in (tests/openai_standin.py) decodes the image each request carries and
answers by the image's perceptual hash, so a test fails if the client sends the wrong
page. Its answers differ from what Tesseract reads ("12" for "twelve", a heading in
title case, a list mark) and contain one invented line, which must get no box while
every real line's box overlaps the line's true box (from Pillow) with IoU >= 0.5.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocrkit_plugins.engines.vlm.align import iou
from openai_standin import ByImage, Reply, Request, StandinServer
from PIL import Image, ImageDraw, ImageFont

from ocrkit import api
from ocrkit.errors import BadOption, EngineFailed, EngineUnavailable
from ocrkit.llm import ModelClient, ModelConfig, ModelError, llm_config, vlm_config
from ocrkit.settings import Settings, load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
ROOT = Path(__file__).resolve().parent.parent

TRUE_LINES = [
    "Quarterly report for the northern region",
    "Revenue grew by twelve percent this quarter",
    "Operating costs remained stable at 4.2 million",
    "The board approved the new warehouse plan",
    "Shipping delays fell after the March update",
]
INVENTED = "Signed by the auditor on Friday morning"
# What the "model" reads: not what Tesseract reads, plus one line that is not on the page.
ANSWER = f"""# Quarterly Report for the Northern Region

Revenue grew by 12 percent this quarter
Operating costs remained stable at 4.2 million
{INVENTED}

- The board approved the new warehouse plan
Shipping delays fell after the March update"""
ANSWER_LINES = [
    "Quarterly Report for the Northern Region",
    "Revenue grew by 12 percent this quarter",
    "Operating costs remained stable at 4.2 million",
    INVENTED,
    "- The board approved the new warehouse plan",
    "Shipping delays fell after the March update",
]
# Index in TRUE_LINES of each answer line (None: invented).
TRUTH_OF = [0, 1, 2, None, 3, 4]


def render(
    lines: list[str],
    size: tuple[int, int] = (1700, 1000),
    font_size: int = 40,
    top: int = 100,
    step: int = 150,
) -> tuple[Image.Image, list[list[float]]]:
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_size)
    boxes = []
    for i, text in enumerate(lines):
        xy = (100, top + i * step)
        draw.text(xy, text, font=font, fill=0)
        boxes.append([float(v) for v in draw.textbbox(xy, text, font=font)])
    return img, boxes


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Image.Image, list[list[float]]]:
    img, boxes = render(TRUE_LINES)
    path = tmp_path_factory.mktemp("vlm") / "scan.png"
    img.save(path)
    return path, img, boxes


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Image.Image]:
    """A small two-line page for the guard tests (Tesseract reads it in a blink)."""
    img, _ = render(["Invoice number 4711", "Total due 215 EUR"], size=(800, 300), top=60, step=110)
    path = tmp_path_factory.mktemp("vlm-small") / "small.png"
    img.save(path)
    return path, img


def settings_for(url: str | None, tmp: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp / "data", "vlm_timeout": 10.0, "vlm_retries": 0}
    if url:
        base.update(vlm_base_url=url, vlm_model="standin")
    base.update(kw)
    return load_settings(env={}, **base)


def client_cfg(url: str, **kw: Any) -> ModelConfig:
    return ModelConfig(**{"base_url": url, "model": "standin", "backoff": 0.01, **kw})


USER = [{"role": "user", "content": "hello"}]


# ------------------------------------------------------------------- the client


def test_client_retries_5xx_and_429_then_answers() -> None:
    def handler(req: Request) -> Reply:
        if req.index == 0:
            return Reply(status=500, text="overloaded")
        if req.index == 1:
            return Reply(status=429, text="slow down", headers={"Retry-After": "0"})
        return Reply(text="third time lucky")

    with StandinServer(handler) as srv, ModelClient(client_cfg(srv.url, retries=2)) as c:
        comp = c.complete(USER, max_tokens=7)
        assert comp.text == "third time lucky" and comp.finish_reason == "stop"
        assert len(srv.requests) == 3
        assert all(r["max_tokens"] == 7 and r["model"] == "standin" for r in srv.requests)


def test_client_gives_up_after_its_retries_with_a_clear_error() -> None:
    with StandinServer(lambda req: Reply(status=503, text="down")) as srv:
        with ModelClient(client_cfg(srv.url, retries=2)) as c, pytest.raises(ModelError) as e:
            c.complete(USER)
        assert len(srv.requests) == 3
    assert "failed after 3 attempts" in e.value.message and "HTTP 503: down" in e.value.message
    assert e.value.http_status == 502


def test_client_does_not_retry_a_rejection_but_drops_unsupported_logprobs() -> None:
    def handler(req: Request) -> Reply:
        if req.body.get("logprobs"):
            return Reply(status=400, text="logprobs not supported")
        return Reply(text="plain")

    with StandinServer(handler) as srv, ModelClient(client_cfg(srv.url, retries=3)) as c:
        comp = c.complete(USER, logprobs=True)
        assert comp.text == "plain" and comp.logprobs is None
        assert [bool(r.get("logprobs")) for r in srv.requests] == [True, False]
    with StandinServer(lambda req: Reply(status=401, text="bad key")) as srv:
        c = ModelClient(client_cfg(srv.url, retries=3, api_key="k"))
        with c, pytest.raises(ModelError, match="rejected the request: HTTP 401: bad key"):
            c.complete(USER)
        assert len(srv.requests) == 1


def test_client_sends_the_api_key() -> None:
    seen: list[str] = []

    def handler(req: Request) -> str:
        seen.append(req.headers.get("Authorization", ""))
        return "ok"

    with StandinServer(handler) as srv, ModelClient(client_cfg(srv.url, api_key="sk-t")) as c:
        c.complete(USER)
    assert seen == ["Bearer sk-t"]


def test_client_timeout_is_an_error_not_a_hang() -> None:
    with StandinServer(lambda req: Reply(text="late", delay=3.0)) as srv:
        with ModelClient(client_cfg(srv.url, timeout=0.3, retries=1)) as c:
            t0 = time.monotonic()
            with pytest.raises(ModelError, match=r"no answer within 0.3 s"):
                c.complete(USER)
            # Two attempts of 0.3 s, not two answers of 3 s.
            assert time.monotonic() - t0 < 2.5
        assert len(srv.requests) == 2


def test_client_unreachable_server() -> None:
    with StandinServer() as srv:
        url = srv.url
    with (
        ModelClient(client_cfg(url, retries=1)) as c,
        pytest.raises(ModelError, match="unreachable"),
    ):
        c.complete(USER)


def test_client_limits_concurrent_requests() -> None:
    lock = threading.Lock()
    now, peak = [0], [0]

    def handler(req: Request) -> str:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.15)
        with lock:
            now[0] -= 1
        return "ok"

    with StandinServer(handler) as srv:
        cfg = client_cfg(srv.url, max_concurrency=2)
        clients = [ModelClient(cfg) for _ in range(6)]  # the limit is shared by clients
        threads = [threading.Thread(target=c.complete, args=(USER,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
        assert len(srv.requests) == 6
    assert peak[0] == 2


def test_settings_llm_defaults_to_vlm_and_config_file(tmp_path: Path) -> None:
    assert vlm_config(load_settings(env={})) is None and llm_config(load_settings(env={})) is None
    toml = tmp_path / "ocrkit.toml"
    toml.write_text(
        '[ocrkit]\nvlm_base_url = "http://file:1/v1"\nvlm_model = "vision"\nvlm_timeout = 7\n'
        "vlm_max_tokens = 900\n"
    )
    s = load_settings(
        env={
            "OCRKIT_CONFIG": str(toml),
            "OCRKIT_LLM_MODEL": "texty",
            "OCRKIT_VLM_API_KEY": "sk-env",
        }
    )
    v, t = vlm_config(s), llm_config(s)
    assert v is not None and t is not None
    assert (v.base_url, v.model, v.timeout, v.max_tokens, v.api_key) == (
        "http://file:1/v1",
        "vision",
        7.0,
        900,
        "sk-env",
    )
    assert (t.base_url, t.model, t.timeout, t.api_key) == (
        "http://file:1/v1",
        "texty",
        7.0,
        "sk-env",
    )
    s2 = load_settings(env={"OCRKIT_CONFIG": str(toml), "OCRKIT_VLM_MODEL": "env-wins"})
    assert vlm_config(s2).model == "env-wins"  # type: ignore[union-attr]
    toml.write_text("vlm_model = [unclosed\n")
    with pytest.raises(BadOption, match="not valid TOML"):
        load_settings(env={"OCRKIT_CONFIG": str(toml)})
    toml.write_text('vlm_modle = "typo"\n')
    with pytest.raises(BadOption, match="unknown setting 'vlm_modle'"):
        load_settings(env={"OCRKIT_CONFIG": str(toml)})


# ---------------------------------------------------------------- the vlm engine


@pytest.fixture(scope="module")
def aligned_job(page: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path, img, _ = page
    handler = ByImage([(img, ANSWER)])
    with StandinServer(handler) as srv:
        s = settings_for(srv.url, tmp_path_factory.mktemp("aligned"))
        job = api.ocr(path, tier="vlm", settings=s, jobs=1)
        return job, srv.requests, srv.images, handler


def test_vlm_lines_get_real_boxes_and_the_invented_line_none(aligned_job: Any, page: Any) -> None:
    from ocrkit.plugins import get_registry

    job, requests, images, handler = aligned_job
    path, img, true_boxes = page
    # The stand-in answered the page it was sent (matched by image hash), once.
    assert handler.matched == [0] and len(requests) == 1
    assert max(images[0].size) == 1600  # scaled to the longest side
    # The answer is not what Tesseract reads on this page.
    tess = get_registry().engine("tesseract").recognize(img, languages=["eng"], dpi=300)
    tess_text = "\n".join(b.text for b in tess.blocks)
    assert "twelve" in tess_text and "12 percent" not in tess_text and INVENTED not in tess_text
    p = job.pages[0]
    assert job.engine == "vlm" and p.engine == "vlm" and job.tier == "vlm"
    assert [b.text for b in p.blocks] == ANSWER_LINES
    for b, truth in zip(p.blocks, TRUTH_OF, strict=True):
        if truth is None:
            assert b.bbox is None and "unaligned" in b.flags, b
        else:
            assert b.bbox is not None and "unaligned" not in b.flags, b
            assert iou(b.bbox, true_boxes[truth]) >= 0.5, (b.text, b.bbox, true_boxes[truth])
    assert [b.type for b in p.blocks][:1] == ["heading"] and p.blocks[4].type == "list_item"
    # Markdown is the model's; text its plain lines; confidence from the alignment.
    assert p.markdown == ANSWER and job.markdown == ANSWER
    assert p.text.splitlines()[0] == "Quarterly Report for the Northern Region"
    assert "#" not in p.text and INVENTED in p.text
    assert p.extra["vlm"]["confidence"] == "alignment"
    assert p.extra["vlm"]["aligned"] == 5 and p.extra["vlm"]["lines"] == 6
    invented = p.blocks[3]
    assert invented.confidence < 0.5 < min(b.confidence for b in p.blocks if b.bbox)
    body = requests[0]
    assert "Markdown" in body["messages"][0]["content"] and body["temperature"] == 0.0


def test_vlm_confidence_from_logprobs(small: Any, tmp_path: Path) -> None:
    path, img = small
    answer = "Invoice number 4711\nTotal due 215 EUR"
    with StandinServer(ByImage([(img, Reply(answer, logprobs=[-0.2, -0.1, -0.3]))])) as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
        assert srv.requests[0]["logprobs"] is True
    p = job.pages[0]
    assert p.extra["vlm"]["confidence"] == "logprobs"
    want = round(math.exp(-0.2), 4)
    assert [b.confidence for b in p.blocks] == [want, want]
    assert all(b.bbox is not None for b in p.blocks)


def test_framed_page_with_writing_is_sent_to_the_model(tmp_path: Path) -> None:
    """A scan with a black frame: the frame's black is the page's most common grey. The
    vlm tier's old blank rule (nothing much darker than the most common grey) found no
    ink and never asked the model (a handwritten envelope of the Poilus wills lost its
    four lines); the cpu tier's rule, which it now shares, sees the writing."""
    import random

    rng = random.Random(7)
    img = Image.new("L", (1000, 800), 0)
    paper = [rng.randint(175, 205) for _ in range(900 * 700)]  # no one grey beats the frame
    inner = Image.new("L", (900, 700))
    inner.putdata(paper)
    draw = ImageDraw.Draw(inner)
    font = ImageFont.truetype(FONT, 60) if Path(FONT).is_file() else ImageFont.load_default()
    draw.text((80, 300), "Madame Guyot", fill=95, font=font)
    img.paste(inner, (50, 50))
    hist = img.histogram()
    assert max(range(256), key=lambda v: hist[v]) == 0  # the frame is the most common grey
    path = tmp_path / "framed.png"
    img.save(path)
    with StandinServer(lambda req: "Madame Guyot") as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
        assert len(srv.requests) == 1
    p = job.pages[0]
    assert [b.text for b in p.blocks] == ["Madame Guyot"] and "blank" not in p.extra["vlm"]


def test_faint_pencil_on_white_paper_is_not_blank() -> None:
    """Writing lighter than mid-grey on white paper: no ink by the cpu tier's rule (no
    pixel under 128), ink by the rule relative to the paper; the vlm tier sends it."""
    from ocrkit_plugins.engines.vlm.guards import is_blank

    from ocrkit.page import is_blank as page_is_blank

    img = Image.new("L", (1200, 900), 250)
    font = ImageFont.truetype(FONT, 60) if Path(FONT).is_file() else ImageFont.load_default()
    ImageDraw.Draw(img).text((100, 400), "written in pencil", fill=150, font=font)
    assert page_is_blank(img, 300)  # the cpu tier's rule alone would lose it
    assert not is_blank(img, 300)


def test_blank_page_is_not_sent_to_the_model(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    img = Image.new("L", (1200, 1600), 250)
    ImageDraw.Draw(img).point([(5, 5), (600, 800)], fill=0)  # two specks of dust
    img.save(path)
    with StandinServer(lambda req: "Lorem ipsum dolor sit amet") as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
        assert srv.requests == []
    p = job.pages[0]
    assert p.blocks == [] and p.text == "" and p.extra["vlm"]["blank"] is True
    assert any("blank page" in w for w in job.warnings)


LOOP = "Invoice number 4711\n" + "Total due 215 EUR " * 40


def test_repetition_loop_is_retried_at_a_higher_temperature(small: Any, tmp_path: Path) -> None:
    path, img = small

    def handler(req: Request) -> str:
        return LOOP if req.index == 0 else "Invoice number 4711\nTotal due 215 EUR"

    with StandinServer(handler) as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
        temps = [r["temperature"] for r in srv.requests]
    assert temps == [0.0, 0.7]
    p = job.pages[0]
    assert p.text == "Invoice number 4711\nTotal due 215 EUR"
    assert any("repetition loop" in w and "retry" in w for w in p.warnings)


def test_repetition_loop_twice_is_cut(small: Any, tmp_path: Path) -> None:
    path, img = small
    with StandinServer(lambda req: LOOP) as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
        assert len(srv.requests) == 2
    p = job.pages[0]
    assert p.text.count("Total due 215 EUR") == 1, p.text
    assert p.extra["vlm"]["loop_cut"] is True
    assert any("repetition loop" in w and "cut" in w for w in p.warnings)


def test_truncated_answer_is_kept_with_a_warning(small: Any, tmp_path: Path) -> None:
    path, img = small
    reply = Reply("Invoice number 4711\nTotal due", finish_reason="length")
    with StandinServer(lambda req: reply) as srv:
        s = settings_for(srv.url, tmp_path, vlm_max_tokens=12)
        job = api.ocr(path, tier="vlm", settings=s, jobs=1)
        assert srv.requests[0]["max_tokens"] == 12
    p = job.pages[0]
    assert p.text.startswith("Invoice number 4711")
    assert any(w.startswith("truncated") and "max_tokens (12)" in w for w in p.warnings)
    assert any("truncated" in w for w in job.warnings)


def test_refusal_falls_back_to_the_cpu_lines(small: Any, tmp_path: Path) -> None:
    path, img = small
    refusal = "I'm sorry, but I can't help with transcribing this document."
    with StandinServer(lambda req: refusal) as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
    p = job.pages[0]
    assert p.engine == "tesseract" and job.engine == "tesseract"
    assert "4711" in p.text and "sorry" not in p.text
    assert all(b.bbox is not None for b in p.blocks)
    assert any("refused" in w for w in job.warnings)


def test_empty_answer_on_a_page_with_text_falls_back(small: Any, tmp_path: Path) -> None:
    path, img = small
    with StandinServer(lambda req: "  \n") as srv:
        job = api.ocr(path, tier="vlm", settings=settings_for(srv.url, tmp_path), jobs=1)
    p = job.pages[0]
    assert p.engine == "tesseract" and "4711" in p.text
    assert any("answered nothing" in w for w in p.warnings)


def test_wrong_script_falls_back_to_the_cpu_lines(small: Any, tmp_path: Path) -> None:
    path, img = small
    garbage = "Счёт номер 4711\nИтого к оплате 215 евро, спасибо за покупку"
    with StandinServer(lambda req: garbage) as srv:
        job = api.ocr(
            path, tier="vlm", language="en", settings=settings_for(srv.url, tmp_path), jobs=1
        )
    p = job.pages[0]
    assert p.engine == "tesseract" and "Invoice" in p.text and "Счёт" not in p.text
    assert any("wrong script" in w and "CYRILLIC" in w for w in p.warnings)


def test_server_errors_fail_the_job_with_a_clear_message(small: Any, tmp_path: Path) -> None:
    path, _ = small
    with StandinServer(lambda req: Reply(status=500, text="GPU on fire")) as srv:
        s = settings_for(srv.url, tmp_path, vlm_retries=1)
        with pytest.raises(
            EngineFailed, match=r"vlm: model server .* 2 attempts: HTTP 500: GPU on fire"
        ):
            api.ocr(path, tier="vlm", settings=s, jobs=1)
        assert len(srv.requests) == 2


def test_without_a_server_tier_vlm_falls_back_or_refuses(small: Any, tmp_path: Path) -> None:
    path, _ = small
    job = api.ocr(path, tier="vlm", settings=settings_for(None, tmp_path), jobs=1)
    assert job.tier == "vlm" and job.engine == "tesseract" and "4711" in job.text
    assert any("OCRKIT_VLM_BASE_URL" in w and "tesseract" in w for w in job.warnings)
    off = settings_for(None, tmp_path, vlm_fallback="off")
    with pytest.raises(EngineUnavailable, match="OCRKIT_VLM_BASE_URL"):
        api.ocr(path, tier="vlm", settings=off, jobs=1)
    with pytest.raises(EngineUnavailable, match="OCRKIT_VLM_BASE_URL"):
        api.ocr(path, tool="handwriting-to-text", settings=off, jobs=1)


def test_exports_of_a_vlm_job_skip_boxless_lines(aligned_job: Any, page: Any) -> None:
    import pymupdf
    from lxml import html as lhtml

    job, *_ = aligned_job
    path, _, _ = page
    hocr = api.export(job, "hocr")
    tree = lhtml.fromstring(hocr)
    lines = tree.xpath("//span[@class='ocr_line' or @class='ocr_header']")
    by_text = {" ".join(s.text_content().split()): s.get("title") for s in lines}
    assert not by_text[INVENTED].startswith("bbox") and "x_wconf" in by_text[INVENTED]
    assert by_text["Operating costs remained stable at 4.2 million"].startswith("bbox ")
    pdf = api.export(job, "pdf", source=path)
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        text = " ".join(doc[0].get_text().split())
    assert "Revenue grew by 12 percent this quarter" in text
    assert "auditor" not in text  # no place on the page for the invented line
    for fmt in ("txt", "md", "json"):
        assert INVENTED.encode() in api.export(job, fmt)


# ------------------------------------------------------------------ CLI, as a user


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "OMP_THREAD_LIMIT": "1", **env}
    for k in list(full):
        if k.startswith(("OCRKIT_VLM_", "OCRKIT_LLM_")) and k not in env:
            full.pop(k)
    return subprocess.run(
        [sys.executable, "-m", "ocrkit", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_cli_tier_vlm_and_engines_against_the_standin(page: Any, tmp_path: Path) -> None:
    path, img, true_boxes = page
    with StandinServer(ByImage([(img, ANSWER)])) as srv:
        env = {
            "OCRKIT_VLM_BASE_URL": srv.url,
            "OCRKIT_VLM_MODEL": "standin",
            "OCRKIT_DATA_DIR": str(tmp_path),
        }
        r = run_cli("ocr", str(path), "--tier", "vlm", "-f", "json", "-q", env=env)
        assert r.returncode == 0, r.stderr
        eng = run_cli("engines", "--json", env=env)
        assert eng.returncode == 0, eng.stderr
        assert srv.model_list_calls >= 1
    job = json.loads(r.stdout)
    assert job["engine"] == "vlm" and job["markdown"] == ANSWER
    blocks = job["pages"][0]["blocks"]
    assert [b["bbox"] is None for b in blocks] == [t is None for t in TRUTH_OF]
    vlm = next(e for e in json.loads(eng.stdout) if e["name"] == "vlm")
    assert vlm["available"] is True and vlm["reachable"] is True and vlm["model"] == "standin"


def test_cli_without_a_server_and_fallback_off_is_a_clear_error(small: Any, tmp_path: Path) -> None:
    path, _ = small
    r = run_cli(
        "ocr",
        str(path),
        "--tier",
        "vlm",
        env={"OCRKIT_VLM_FALLBACK": "off", "OCRKIT_DATA_DIR": str(tmp_path)},
    )
    assert r.returncode == 6, (r.returncode, r.stderr)
    assert "OCRKIT_VLM_BASE_URL" in r.stderr and "Traceback" not in r.stderr
    eng = run_cli("engines", "--json", env={"OCRKIT_DATA_DIR": str(tmp_path)})
    vlm = next(e for e in json.loads(eng.stdout) if e["name"] == "vlm")
    assert vlm["available"] is False and "OCRKIT_VLM_BASE_URL" in vlm["reason"]


# ---------------------------------------------------------------------- the API


def png_bytes(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinServer]:
    with StandinServer() as srv:
        yield srv


def make_app_settings(tmp: Path, **kw: Any) -> Settings:
    return settings_for(None, tmp, workers=1, anon_daily_pages=100, **kw)


@pytest.fixture(scope="module")
def vlm_client(
    standin: StandinServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    from ocrkit.server.app import create_app

    s = make_app_settings(
        tmp_path_factory.mktemp("vlm-app"), vlm_base_url=standin.url, vlm_model="standin"
    )
    with TestClient(create_app(s), follow_redirects=False) as c:
        yield c


def paid(client: TestClient, name: str, credits: int = 100) -> dict[str, str]:
    store = client.app.state.ocrkit.store  # type: ignore[attr-defined]
    store.create_account(name, "paid")
    store.credit(name, credits)
    return {"Authorization": f"Bearer {store.create_token(name)[1]}"}


def test_api_tier_vlm_end_to_end_billed_at_the_vlm_rate(
    vlm_client: TestClient, standin: StandinServer, page: Any
) -> None:
    path, img, true_boxes = page
    standin.handler = ByImage([(img, ANSWER)])
    auth = paid(vlm_client, "vlm-user")
    r = vlm_client.post(
        "/api/v1/ocr/",
        files={"file": ("scan.png", png_bytes(img))},
        data={"tier": "vlm"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "done" and job["tier"] == "vlm" and job["engine"] == "vlm"
    assert job["markdown"] == ANSWER
    blocks = job["pages"][0]["blocks"]
    for b, truth in zip(blocks, TRUTH_OF, strict=True):
        if truth is None:
            assert b["bbox"] is None and "unaligned" in b["flags"]
        else:
            assert iou(b["bbox"], true_boxes[truth]) >= 0.5
    usage = vlm_client.get("/api/v1/usage/", headers=auth).json()
    assert usage["credits"] == 100 - 5, usage
    md = vlm_client.get(f"/api/v1/ocr/{job['uuid']}/download/?format=md", headers=auth)
    assert md.status_code == 200 and INVENTED in md.text


def test_api_handwriting_tool_uses_the_handwriting_prompt(
    vlm_client: TestClient, standin: StandinServer, small: Any
) -> None:
    _, img = small
    standin.handler = ByImage([(img, "Invoice number 4711\nTotal due 215 EUR")])
    before = len(standin.requests)
    r = vlm_client.post(
        "/api/v1/ocr/",
        files={"file": ("note.png", png_bytes(img))},
        data={"tool": "handwriting-to-text"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["tool"] == "handwriting-to-text" and job["tier"] == "vlm" and job["engine"] == "vlm"
    assert job["text"] == "Invoice number 4711\nTotal due 215 EUR"
    body = standin.requests[before]
    assert "handwriting" in body["messages"][0]["content"]
    assert job["pages"][0]["extra"]["vlm"]["prompt"] == "handwriting"


def test_api_without_a_server_falls_back_at_the_cpu_rate_or_400(tmp_path: Path, small: Any) -> None:
    from ocrkit.server.app import create_app

    _, img = small
    with TestClient(create_app(make_app_settings(tmp_path / "a"))) as c:
        auth = paid(c, "fallback-user")
        r = c.post(
            "/api/v1/ocr/",
            files={"file": ("s.png", png_bytes(img))},
            data={"tier": "vlm"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["tier"] == "vlm" and job["engine"] == "tesseract" and "4711" in job["text"]
        assert any("OCRKIT_VLM_BASE_URL" in w for w in job["warnings"])
        assert c.get("/api/v1/usage/", headers=auth).json()["credits"] == 100 - 1
    with TestClient(create_app(make_app_settings(tmp_path / "b", vlm_fallback="off"))) as c:
        for data in ({"tier": "vlm"}, {"tool": "handwriting-to-text"}):
            r = c.post("/api/v1/ocr/", files={"file": ("s.png", png_bytes(img))}, data=data)
            assert r.status_code == 400, r.text
            assert "OCRKIT_VLM_BASE_URL" in r.json()["detail"]
