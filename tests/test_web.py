"""The web page and web accounts against a real app: TestClient with its lifespan, a real
SQLite file, real argon2 hashes, real Tesseract for the one job a signed-up account runs.

The browser itself is driven in tests/test_web_browser.py.
"""

from __future__ import annotations

import io
import re
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ocrkit.settings import Settings, load_settings

with warnings.catch_warnings():  # starlette warns that httpx is deprecated for its client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TOKEN_RE = re.compile(r'value="(ok_[A-Za-z0-9_-]+)"')


def make_settings(data_dir: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": data_dir, "workers": 1, "dpi": 150}
    base.update(kw)
    return load_settings(env={}, **base)


@contextmanager
def serving(settings: Settings, base_url: str = "http://testserver") -> Iterator[TestClient]:
    from ocrkit.server.app import create_app

    app = create_app(settings, warm_workers=False)
    with TestClient(app, base_url=base_url, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with serving(make_settings(tmp_path_factory.mktemp("closed"))) as c:
        yield c


@pytest.fixture
def open_client(tmp_path: Path) -> Iterator[TestClient]:
    with serving(make_settings(tmp_path / "data", signup="open")) as c:
        yield c


# The cookie jar files the server's cookies under this domain (http.cookiejar adds
# ".local" to a dotless host). A cookie set by the test must replace the server's, not sit
# beside it: httpx2's jar sends both and the server's comes first.
JAR_DOMAIN = "testserver.local"


def csrf_of(client: TestClient, path: str = "/signin") -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text
    token = client.cookies.get("ocrkit_csrf")
    assert token and f'value="{token}"' in r.text
    return token


def sign_up(client: TestClient, email: str, password: str = "correct horse 9") -> tuple[Any, str]:
    csrf = csrf_of(client, "/signup")
    r = client.post("/signup", data={"email": email, "password": password, "csrf": csrf})
    assert r.status_code == 201, r.text
    m = TOKEN_RE.search(r.text)
    assert m, r.text
    return r, m.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def png(lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (640, 60 + 55 * len(lines)), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 30)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 55 * i), line, font=font, fill=0)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- the page


class Refs(HTMLParser):
    """Every URL-bearing attribute of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href", "action", "formaction", "poster", "data"):
            if a.get(name):
                self.refs.append((tag, name, a[name] or ""))
        if tag == "script":
            self._in_script = "src" not in a

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def _same_origin(url: str) -> bool:
    return (url.startswith("/") and not url.startswith("//")) or url.startswith("#")


def _external(text: str) -> list[str]:
    """http(s):// and protocol-relative references, except XML namespace names (an SVG
    file must declare one; it is an identifier, never fetched)."""
    text = re.sub(r'xmlns(:\w+)?="[^"]*"', "", text)
    found = re.findall(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'`)]*""", text)
    return [u for u in found if not u.startswith("//#")]


def test_page_and_files_are_served_same_origin_only(closed: TestClient) -> None:
    r = closed.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    parser = Refs()
    parser.feed(r.text)
    assert parser.inline_scripts == 0  # the CSP forbids inline script; none is needed
    refs = [url for _tag, _attr, url in parser.refs]
    assert refs and all(_same_origin(u) for u in refs), refs
    assets = sorted({u for u in refs if u.startswith("/web/")})
    assert {"/web/app.js", "/web/app.css"} <= set(assets)
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in [*assets, "/web/account.js"]:
        f = closed.get(url)
        assert f.status_code == 200, url
        assert f.headers["content-type"].startswith(expected[Path(url).suffix]), url
        assert f.headers["x-content-type-options"] == "nosniff"
        assert _external(f.text) == [], url
        if url.endswith(".css"):  # no url(...) to anywhere but here
            assert all(_same_origin(u) for u in re.findall(r"url\(([^)]*)\)", f.text))
    assert _external(r.text) == []
    # only the listed files are served; nothing else of the package can be read
    for bad in ("/web/routes.py", "/web/..%2Froutes.py", "/web/%2e%2e/routes.py", "/web/"):
        assert closed.get(bad).status_code == 404, bad
    # conditional GET
    etag = closed.get("/web/app.js").headers["etag"]
    assert closed.get("/web/app.js", headers={"If-None-Match": etag}).status_code == 304


def test_every_page_carries_a_same_origin_csp(closed: TestClient) -> None:
    for path in ("/", "/web/app.js", "/signin"):
        csp = closed.get(path).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"  # no inline, no eval, no other host
        assert directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "http" not in csp


def test_options_come_from_the_registry(closed: TestClient) -> None:
    from ocrkit.page import inputs

    reg = closed.app.state.ocrkit.registry  # type: ignore[attr-defined]
    o = closed.get("/api/v1/options").json()
    assert closed.get("/api/v1/options/").json() == o
    assert {f["name"] for f in o["formats"]} == set(reg.exporters)
    for f in o["formats"]:
        assert f["media_type"] == reg.exporters[f["name"]].media_type
    assert {t["name"] for t in o["tools"]} == set(reg.tools)
    assert [t["name"] for t in o["tiers"]] == ["cpu", "vlm"]
    langs: set[str] = set()
    for eng in reg.engines.values():
        if eng.availability()[0]:
            langs |= set(eng.languages()) - {"osd"}
    assert {lang["code"] for lang in o["languages"]} == langs
    assert "eng" in langs
    assert [i["kind"] for i in o["inputs"]] == list(inputs.KINDS)
    assert "de" in o["translate_targets"] and "en" in o["translate_targets"]
    assert o["signup"] == "closed"
    chat_routes = any(getattr(r, "path", "").startswith("/api/v1/chat/") for r in closed.app.routes)
    assert o["chat"] is chat_routes
    # documented in the API, while the HTML routes stay out of the OpenAPI document
    doc = closed.get("/api/v1/openapi.json").json()
    assert set(doc["components"]["schemas"]["Options"]["required"]) <= set(o)
    assert "/api/v1/options" in doc["paths"]
    assert not {"/", "/signin", "/signup", "/account", "/web/{name}"} & set(doc["paths"])


# ----------------------------------------------------------------------------- accounts


def test_signup_is_closed_by_default(closed: TestClient) -> None:
    csrf = csrf_of(closed)
    assert closed.get("/signup").status_code == 404
    r = closed.post("/signup", data={"email": "x@example.com", "password": "p" * 12, "csrf": csrf})
    assert r.status_code == 404
    assert "closed" in r.json()["detail"]
    store = closed.app.state.ocrkit.store  # type: ignore[attr-defined]
    assert store.get_account("x@example.com") is None
    assert 'href="/signup"' not in closed.get("/signin").text
    # signing in with no such account is a plain 401, not an error page
    r = closed.post("/signin", data={"email": "x@example.com", "password": "p" * 12, "csrf": csrf})
    assert r.status_code == 401 and "Wrong email or password" in r.text


def test_open_signup_flow_with_argon2_in_sqlite(open_client: TestClient, tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    c = open_client
    r, token = sign_up(c, "Ada@Example.com", "correct horse 9")
    cookie = r.headers["set-cookie"]
    session = next(p for p in r.headers.get_list("set-cookie") if p.startswith("ocrkit_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
    assert "ocrkit_session" in cookie
    assert r.headers["cache-control"] == "no-store"  # the page shows a secret
    # the password is stored as a real argon2id hash in the SQLite file, never in clear
    db = sqlite3.connect(tmp_path / "data" / "ocrkit.db")
    (email, digest), *_ = db.execute("SELECT email, password_hash FROM web_users").fetchall()
    (sessions,) = db.execute("SELECT count(*) FROM web_sessions").fetchone()
    db.close()
    assert email == "ada@example.com" and sessions == 1
    assert digest.startswith("$argon2id$") and "correct horse" not in digest
    assert PasswordHasher().verify(digest, "correct horse 9")
    # the token from the page works with the API, as a free account named by the email
    usage = c.get("/api/v1/usage/", headers=bearer(token)).json()
    assert usage["plan"] == "free" and usage["used"] == 0
    job = c.post(
        "/api/v1/ocr/", headers=bearer(token), files={"file": ("memo.png", png(["Memo to staff"]))}
    )
    assert job.status_code == 200 and job.json()["status"] == "done", job.text
    page = c.get("/account")
    assert page.status_code == 200
    assert "ada@example.com" in page.text and "memo.png" in page.text
    assert f'href="/#job={job.json()["uuid"]}"' in page.text
    assert re.search(r"<strong>1</strong> of <strong>\d+</strong> pages", page.text)
    assert token not in page.text and token[:10] in page.text  # shown once, then the prefix
    # the same email again: 409; bad input: 400 with a message
    c.cookies.delete("ocrkit_session")
    csrf = csrf_of(c, "/signin")
    r = c.post("/signup", data={"email": "ada@example.com", "password": "x" * 10, "csrf": csrf})
    assert r.status_code == 409 and "exists" in r.text
    r = c.post("/signup", data={"email": "bob@example.com", "password": "short", "csrf": csrf})
    assert r.status_code == 400 and "at least 8" in r.text
    r = c.post("/signup", data={"email": "not an email", "password": "x" * 10, "csrf": csrf})
    assert r.status_code == 400 and "valid email" in r.text
    # sign in, then out (the session ends in the store too)
    r = c.post(
        "/signin", data={"email": "ADA@example.com", "password": "correct horse 9", "csrf": csrf}
    )
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert c.get("/account").status_code == 200
    old_cookie = c.cookies.get("ocrkit_session")
    r = c.post("/signout", data={"csrf": csrf})
    assert r.status_code == 303
    assert c.get("/account").status_code == 303
    c.cookies.set("ocrkit_session", old_cookie or "", domain=JAR_DOMAIN)  # a stolen copy is dead too
    assert c.get("/account").status_code == 303


def test_account_page_rotates_the_token(open_client: TestClient) -> None:
    c = open_client
    _, old = sign_up(c, "rot@example.com")
    assert c.get("/api/v1/usage/", headers=bearer(old)).status_code == 200
    csrf = c.cookies.get("ocrkit_csrf")
    r = c.post("/account/token", data={"csrf": csrf})
    assert r.status_code == 200
    new = TOKEN_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert new != old
    assert 'data-copy="token"' in r.text  # the copy button beside it
    assert c.get("/api/v1/usage/", headers=bearer(old)).status_code == 401
    assert c.get("/api/v1/usage/", headers=bearer(new)).json()["plan"] == "free"


def test_csrf_and_cross_origin_posts_are_refused(open_client: TestClient) -> None:
    c = open_client
    _, token = sign_up(c, "csrf@example.com")
    csrf = c.cookies.get("ocrkit_csrf")
    assert csrf
    # rotation without the form token, with a wrong one, or from another origin: 403
    assert c.post("/account/token", data={"x": "1"}).status_code == 403
    assert c.post("/account/token", data={"csrf": "x" * 43}).status_code == 403
    evil = {"Origin": "http://evil.example"}
    assert c.post("/account/token", data={"csrf": csrf}, headers=evil).status_code == 403
    ref = {"Referer": "http://evil.example/page"}
    assert c.post("/account/token", data={"csrf": csrf}, headers=ref).status_code == 403
    assert c.get("/api/v1/usage/", headers=bearer(token)).status_code == 200  # not rotated
    # same for sign-up and sign-in forms
    r = c.post("/signup", data={"email": "e@example.com", "password": "x" * 10}, headers=evil)
    assert r.status_code == 403
    # a form token without its cookie (another browser) is refused
    c.cookies.delete("ocrkit_csrf")
    r = c.post(
        "/signin", data={"email": "csrf@example.com", "password": "correct horse 9", "csrf": csrf}
    )
    assert r.status_code == 403
    # the same origin passes
    c.cookies.set("ocrkit_csrf", csrf, domain=JAR_DOMAIN)
    own = {"Origin": "http://testserver"}
    r = c.post("/account/token", data={"csrf": csrf}, headers=own)
    assert r.status_code == 200
    assert c.get("/api/v1/usage/", headers=bearer(token)).status_code == 401


def test_signin_failures_are_rate_limited(open_client: TestClient) -> None:
    from ocrkit.web.security import SIGNIN_FAILURES_ALLOWED

    c = open_client
    sign_up(c, "rl@example.com")
    c.cookies.delete("ocrkit_session")
    csrf = c.cookies.get("ocrkit_csrf")
    form = {"email": "rl@example.com", "password": "wrong password", "csrf": csrf}
    codes = [c.post("/signin", data=form).status_code for _ in range(SIGNIN_FAILURES_ALLOWED)]
    assert codes == [401] * SIGNIN_FAILURES_ALLOWED
    r = c.post("/signin", data={**form, "password": "correct horse 9"})
    assert r.status_code == 429  # even the right password waits now
    assert int(r.headers["retry-after"]) > 0 and "Too many failed sign-ins" in r.text
    assert "ocrkit_session" not in r.headers.get("set-cookie", "")


def test_tampered_session_cookie_is_not_signed_in(open_client: TestClient) -> None:
    c = open_client
    sign_up(c, "tamper@example.com")
    good = c.cookies.get("ocrkit_session") or ""
    secret, _, mac = good.rpartition(".")
    for bad in (secret, secret + "." + mac[::-1], "x" + good):
        c.cookies.set("ocrkit_session", bad, domain=JAR_DOMAIN)
        assert c.get("/account").status_code == 303, bad


def test_cookies_are_secure_over_https(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, signup="open", secret_key="k" * 40)
    with serving(settings, base_url="https://testserver") as c:
        r, _ = sign_up(c, "tls@example.com")
        for cookie in r.headers.get_list("set-cookie"):
            assert "Secure" in cookie and "HttpOnly" in cookie, cookie
    assert not (tmp_path / "web-secret").exists()  # the configured key was used


def test_signup_setting_is_checked() -> None:
    from ocrkit.errors import BadOption

    assert load_settings(env={"OCRKIT_SIGNUP": "open"}).signup == "open"
    with pytest.raises(BadOption, match="OCRKIT_SIGNUP"):
        load_settings(env={"OCRKIT_SIGNUP": "yes"})


def test_cli_account_gets_a_web_login_while_signup_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from ocrkit.cli.accounts import accounts

    data = tmp_path / "data"
    monkeypatch.setenv("OCRKIT_DATA_DIR", str(data))
    monkeypatch.delenv("OCRKIT_DATABASE_URL", raising=False)
    with serving(make_settings(data)) as c:
        c.app.state.ocrkit.store.create_account("acme", "paid")  # type: ignore[attr-defined]
        args = ["web-login", "acme", "--email", "Ops@Acme.example", "--password-stdin"]
        result = CliRunner().invoke(accounts, args, input="s3cret passphrase\n")
        assert result.exit_code == 0, result.output
        assert "ops@acme.example" in result.stderr
        csrf = csrf_of(c)
        form = {"email": "ops@acme.example", "password": "s3cret passphrase", "csrf": csrf}
        r = c.post("/signin", data=form)
        assert r.status_code == 303, r.text
        page = c.get("/account").text
        assert "ops@acme.example" in page and "Credits left" in page  # a paid plan
        # a short password or a bad email is refused with a message, nothing changes
        bad = CliRunner().invoke(accounts, args, input="short\n")
        assert bad.exit_code != 0 and "at least 8" in str(bad.exception)
        # changing the password ends the account's web sessions
        result = CliRunner().invoke(accounts, args, input="another passphrase\n")
        assert result.exit_code == 0
        assert c.get("/account").status_code == 303
        assert c.post("/signin", data=form).status_code == 401
        r = c.post("/signin", data={**form, "password": "another passphrase"})
        assert r.status_code == 303


def test_scheme_behind_a_trusted_tls_proxy() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from ocrkit.web.security import is_https, same_origin

    app = Starlette()
    app.state.settings = load_settings(env={}, trusted_proxies=("10.0.0.0/8",))

    def request(peer: str, headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        scope = {
            "type": "http", "method": "POST", "scheme": "http", "path": "/signin",
            "query_string": b"", "server": ("ocr.example", 80), "client": (peer, 5000),
            "headers": [(b"host", b"ocr.example"), *raw], "app": app,
        }  # fmt: skip
        return Request(scope)

    tls = {"X-Forwarded-Proto": "https", "Origin": "https://ocr.example"}
    assert is_https(request("10.1.2.3", tls)) and same_origin(request("10.1.2.3", tls))
    # the same header from anyone else is not believed
    assert not is_https(request("203.0.113.5", tls))
    assert not same_origin(request("203.0.113.5", tls))
    assert same_origin(request("203.0.113.5", {"Origin": "http://ocr.example"}))


def test_signups_per_address_are_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocrkit.web import security

    monkeypatch.setattr(security, "SIGNUPS_ALLOWED", 2)
    with serving(make_settings(tmp_path / "data", signup="open")) as c:
        for n in range(2):
            sign_up(c, f"user{n}@example.com")
            c.cookies.delete("ocrkit_session")
        csrf = c.cookies.get("ocrkit_csrf")
        form = {"email": "user9@example.com", "password": "x" * 12, "csrf": csrf}
        r = c.post("/signup", data=form)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert c.app.state.ocrkit.store.get_account("user9@example.com") is None  # type: ignore[attr-defined]
