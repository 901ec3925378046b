"""The web page in a real browser: Debian's Chromium driven by Selenium (chromium-driver),
against a real `ocrkit serve` subprocess with a real SQLite store and Tesseract.

One phone-sized session (390x844) signs up, copies the token from the account page and
uses it with the API, uploads a corpus page, checks the text and that every block is
drawn as a box where its scaled bbox says, downloads the DOCX, asks a chat question and
follows its citation (when the server serves chat), and checks that the browser asked
nothing of any other host. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    data = tmp_path_factory.mktemp("browser") / "data"
    env = {
        **os.environ,
        "OCRKIT_SIGNUP": "open",
        "OMP_THREAD_LIMIT": "1",
        # Every job answers 202 pending, so the page follows it by polling (as for a
        # large file); anonymous callers have no pages left (a 402 to show).
        "OCRKIT_INLINE_MAX_PAGES": "0",
        "OCRKIT_ANON_DAILY_PAGES": "0",
        "OCRKIT_DPI": "100",
    }
    cmd = [sys.executable, "-m", "ocrkit", "serve", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"ocrkit serve did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.fail("install Debian's chromium and chromium-driver (make system-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=390,844",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    opts.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.downloads = downloads  # type: ignore[attr-defined]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, script: str, timeout: float = 60, *args: Any) -> Any:
    """Poll a JavaScript expression (``return ...``) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.1)


def requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def desktop_screenshot(d: Any) -> None:
    """The result view at 1280x900 (the README shows it)."""
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    d.execute_script("document.getElementById('result').scrollIntoView()")
    time.sleep(0.3)
    d.save_screenshot(str(ARTIFACTS / "web-result-1280x900.png"))


def test_phone_sized_keyboard_flow(server: str, browser: Any, corpus: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    d.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    # -- sign up with the keyboard, copy the token, use it with the API ------------------
    d.get(server + "/signup")
    d.find_element(By.ID, "email").send_keys("reader@example.com")
    d.find_element(By.ID, "password").send_keys("a long passphrase", Keys.ENTER)
    token_input = wait_for(d, "return document.getElementById('token')")
    token = token_input.get_attribute("value")
    assert token.startswith("ok_")
    d.find_element(By.CSS_SELECTOR, "[data-copy=token]").send_keys(Keys.ENTER)
    wait_for(d, "return document.getElementById('copy-status').textContent")
    copied = d.execute_async_script(
        "const done = arguments[0];"
        "navigator.clipboard.readText().then(done, e => done('ERR ' + e));"
    )
    assert copied == token
    usage = httpx.get(server + "/api/v1/usage/", headers={"Authorization": f"Bearer {copied}"})
    assert usage.status_code == 200 and usage.json()["plan"] == "free"
    d.find_element(By.CSS_SELECTOR, "[data-use-token=token]").send_keys(Keys.ENTER)

    # -- the OCR page: keyboard order and focus ring ---------------------------------------
    d.get(server + "/")
    wait_for(d, "return document.getElementById('tool').options.length > 0 && "
             "document.getElementById('language').options.length > 1")  # fmt: skip
    assert "saved" in d.find_element(By.ID, "token-state").text
    from selenium.webdriver import ActionChains

    order = []
    for _ in range(14):  # real key presses, as a keyboard user moves through the page
        ActionChains(d).send_keys(Keys.TAB).perform()
        order.append(d.execute_script("const a = document.activeElement; return a.id || a.tagName"))
    assert order.index("file") < order.index("tier") < order.index("language") < order.index("go")
    tier = d.find_element(By.ID, "tier")
    d.execute_script("document.getElementById('language').focus()")
    ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert d.switch_to.active_element == tier
    assert d.execute_script("return getComputedStyle(arguments[0]).outlineStyle", tier) != "none"

    # -- upload a corpus page and read the result ------------------------------------------
    page_file = corpus / "printed" / "tess_phototest.tif"
    d.execute_script(
        """window.statuses = [];
        const s = document.getElementById('status');
        new MutationObserver(() => statuses.push(s.textContent))
          .observe(s, {childList: true, characterData: true, subtree: true});"""
    )
    d.find_element(By.ID, "file").send_keys(str(page_file))
    d.find_element(By.ID, "go").send_keys(Keys.ENTER)
    wait_for(d, "return !document.getElementById('result').hidden && "
             "document.querySelectorAll('#view-lines li.line').length > 0", 90)  # fmt: skip
    uuid = d.execute_script("return location.hash.split('=')[1]")
    statuses = d.execute_script("return statuses")
    assert any(m.startswith(("Waiting in the queue", "Reading:")) for m in statuses), statuses
    assert d.find_element(By.ID, "status").get_attribute("aria-live") == "polite"
    job = httpx.get(f"{server}/api/v1/ocr/{uuid}/", headers={"Authorization": f"Bearer {token}"})
    page = job.json()["pages"][0]
    lines_text = d.find_element(By.ID, "view-lines").text
    assert "quick brown" in lines_text.lower()
    # every positioned block is one box, within 3 px of its scaled bbox
    wait_for(
        d, "const i = document.getElementById('page-img'); return i.complete && i.naturalWidth"
    )
    boxed = [b for b in page["blocks"] if b.get("bbox")]
    geo = d.execute_script(
        """const img = document.getElementById('page-img').getBoundingClientRect();
        const rects = [...document.querySelectorAll('#boxes rect.box')].map(r => {
          const b = r.getBoundingClientRect();
          return [+r.dataset.i, b.left - img.left, b.top - img.top, b.width, b.height]; });
        return {w: img.width, h: img.height, rects: rects,
                nw: document.getElementById('page-img').naturalWidth};"""
    )
    assert len(geo["rects"]) == len(boxed) > 3
    assert geo["nw"] == page["width"]
    sx, sy = geo["w"] / page["width"], geo["h"] / page["height"]
    assert abs(sx - sy) < 0.01
    for i, left, top, width, height in geo["rects"]:
        x0, y0, x1, y1 = page["blocks"][i]["bbox"]
        assert abs(left - x0 * sx) <= 3 and abs(top - y0 * sy) <= 3, (i, left, top)
        assert abs(width - (x1 - x0) * sx) <= 3 and abs(height - (y1 - y0) * sy) <= 3
    # the view tabs answer the arrow keys; the Markdown view renders the page's markdown
    d.find_element(By.ID, "tab-lines").send_keys(Keys.ARROW_RIGHT)
    assert d.switch_to.active_element.get_attribute("id") == "tab-md"
    md_view = d.find_element(By.ID, "view-md")
    assert md_view.is_displayed() and "quick brown" in md_view.text.lower()
    d.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    assert d.find_element(By.ID, "view-lines").is_displayed()
    # the server renders the Markdown (tests/test_ops_server.py checks its sanitising);
    # the page inserts it as elements, never script or images
    rendered = d.execute_script(
        """const box = document.getElementById('view-md');
        return {bad: box.querySelectorAll('img, script, a, [onerror], [style]').length,
                blocks: box.querySelectorAll('p, h1, h2, h3, li, td').length};"""
    )
    assert rendered["bad"] == 0 and rendered["blocks"] >= 1, rendered
    # hovering a line highlights its box
    first_line = d.find_element(By.CSS_SELECTOR, "#view-lines li.line")
    ActionChains(d).move_to_element(first_line).perform()
    i = first_line.get_attribute("data-i")
    assert "hot" in d.find_element(By.CSS_SELECTOR, f'rect[data-i="{i}"]').get_attribute("class")
    last_box = d.find_elements(By.CSS_SELECTOR, "#boxes rect.box")[-1]
    ActionChains(d).move_to_element(last_box).perform()
    j = last_box.get_attribute("data-i")
    line = d.find_element(By.CSS_SELECTOR, f'#view-lines li[data-i="{j}"]')
    assert "hot" in line.get_attribute("class") and "hot" not in first_line.get_attribute("class")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(ARTIFACTS / "web-result-390x844.png"))

    # -- download the DOCX -----------------------------------------------------------------
    docx_button = wait_for(
        d,
        "return [...document.querySelectorAll('#downloads button')]"
        ".find(b => b.textContent === 'DOCX')",
    )
    docx_button.send_keys(Keys.ENTER)
    deadline = time.monotonic() + 20
    while not list(d.downloads.glob("*.docx")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (docx_path,) = list(d.downloads.glob("*.docx"))
    import docx

    text = "\n".join(p.text for p in docx.Document(str(docx_path)).paragraphs)
    assert "quick brown" in text.lower()

    # -- chat, when this server serves it ------------------------------------------------
    options = httpx.get(server + "/api/v1/options").json()
    if options["chat"]:
        q = d.find_element(By.ID, "chat-q")
        q.send_keys("What jumped over the lazy fox?", Keys.ENTER)
        wait_for(d, "return document.querySelector('#chat-log .turn.bot')", 60)
        cite = wait_for(d, "return document.querySelector('#chat-log .turn.bot button.cite')", 5)
        cite.send_keys(Keys.ENTER)
        wait_for(d, "return document.querySelectorAll('#view-lines li.cited').length > 0", 5)
        assert d.find_element(By.ID, "page-no").get_attribute("value") == "1"
        cited = d.find_elements(By.CSS_SELECTOR, "#boxes rect.cited")
        assert cited, "the cited lines' boxes are highlighted too"
        desktop_screenshot(d)
        # earlier turns come back from history on reload
        d.refresh()
        wait_for(d, "return document.querySelectorAll('#chat-log .turn').length >= 2", 20)
    else:
        assert d.find_element(By.ID, "chat").get_attribute("hidden") is not None
        desktop_screenshot(d)

    # -- a line without a bbox is listed but not boxed; low confidence is marked ------------
    shown = d.execute_script(
        """ocrkitPage.showJob({uuid: '00000000-0000-4000-8000-000000000000', status: 'done',
          tier: 'vlm', page_count: 1, markdown: '', pages: [{index: 0, width: 400,
          height: 200, text: 'a\\nb', blocks: [
            {text: 'Sure line', bbox: [10, 10, 200, 40], confidence: 0.4,
             flags: ['low_confidence']},
            {text: 'Unaligned line', bbox: null, confidence: 0.9, flags: ['unaligned']}]}]});
        const all = (sel) => [...document.querySelectorAll(sel)];
        return {boxes: all('#boxes rect').map(r => r.getAttribute('class')),
                lines: all('#view-lines li').map(li => li.textContent)};"""
    )
    assert shown["boxes"] == ["box low"]
    assert shown["lines"] == ["Sure line low confidence", "Unaligned line no position"]
    messages = d.execute_script(
        """const m = ocrkitPage.describe;
        return [m(402, {detail: 'free monthly cap reached', used: 200, cap: 200, unit: 'pages'}),
                m(409, {detail: 'the job is processing; poll it until it is done'}),
                m(429, {detail: 'too many chat questions', retry_after: 7})];"""
    )
    assert messages[0] == "Out of pages: 200 of 200 pages used. free monthly cap reached"
    assert messages[1] == "Not ready: the job is processing; poll it until it is done."
    assert messages[2] == "Too many requests: too many chat questions. Try again in 7 s."

    # -- a two-page PDF: page navigation by keyboard ----------------------------------------
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    d.find_element(By.ID, "file").send_keys(str(corpus / "pdf" / "docling_code_and_formula.pdf"))
    d.find_element(By.ID, "go").send_keys(Keys.ENTER)
    wait_for(d, "return document.getElementById('page-count').textContent === 'of 2'", 60)
    pdf_uuid = d.execute_script("return location.hash.split('=')[1]")
    assert pdf_uuid != uuid
    pdf_job = httpx.get(
        f"{server}/api/v1/ocr/{pdf_uuid}/", headers={"Authorization": f"Bearer {token}"}
    )
    second = pdf_job.json()["pages"][1]
    d.find_element(By.ID, "next").send_keys(Keys.ENTER)
    assert d.find_element(By.ID, "page-no").get_attribute("value") == "2"
    assert d.find_element(By.ID, "next").get_attribute("disabled") is not None
    n_boxes = d.execute_script("return document.querySelectorAll('#boxes rect.box').length")
    assert n_boxes == len([b for b in second["blocks"] if b.get("bbox")]) > 0
    wait_for(
        d,
        "const i = document.getElementById('page-img'); "
        "return i.complete && i.naturalWidth === arguments[0]",
        20,
        second["width"],
    )
    assert second["blocks"][0]["text"] in d.find_element(By.ID, "view-lines").text

    # -- errors are readable: a file of an unsupported type (400); anonymous out of pages (402)
    d.find_element(By.ID, "file").send_keys(str(ROOT / "pyproject.toml"))
    d.find_element(By.ID, "go").send_keys(Keys.ENTER)
    error = wait_for(d, "const e = document.getElementById('error'); return !e.hidden && e", 20)
    assert error.text.startswith("The server could not use this request:"), error.text
    d.find_element(By.CSS_SELECTOR, "#token-box summary").send_keys(Keys.ENTER)
    d.find_element(By.ID, "token-forget").send_keys(Keys.ENTER)
    assert d.find_element(By.ID, "token-state").text == "(anonymous)"
    d.find_element(By.ID, "file").send_keys(str(page_file))
    d.find_element(By.ID, "go").send_keys(Keys.ENTER)
    wait_for(d, "return document.getElementById('error').textContent.startsWith('Out of')", 20)
    assert "0 of 0 pages used" in d.find_element(By.ID, "error").text

    # -- the browser asked nothing of any other host ----------------------------------------
    urls = requested_urls(d)
    polls = [u for u in urls if u.split("?")[0].rstrip("/").endswith(uuid)]
    assert polls, "the page followed the pending job by polling it"
    foreign = [u for u in urls if not u.startswith((server + "/", "blob:", "data:"))]
    assert foreign == []


def test_swagger_ui_renders_under_its_csp(server: str, browser: Any) -> None:
    """The API docs page (Swagger UI from this server, scripts allowed from 'self' only)
    really renders the operations of the OpenAPI document, with try-it-out, and asks
    nothing of any other host."""
    from urllib.parse import urlsplit

    d = browser
    d.get_log("performance")  # drop what earlier tests requested
    d.get(server + "/api/v1/docs")
    paths = wait_for(
        d,
        "const p = [...document.querySelectorAll('.opblock-summary-path')]"
        ".map(e => e.textContent.trim()); return p.length > 5 && p;",
    )
    assert any(p.startswith("/api/v1/ocr/") for p in paths), paths
    d.find_element("css selector", ".opblock-summary").click()
    wait_for(d, "return document.querySelector('.try-out__btn')")
    own = urlsplit(server).netloc
    others = [u for u in requested_urls(d) if urlsplit(u).netloc not in (own, "")]
    assert [u for u in others if not u.startswith(("data:", "blob:"))] == []
