"""Routes of the web page: ``/`` and its static files, ``/api/v1/options`` (the choices
the page offers, from the registry), and the account pages (sign-up, sign-in, sign-out,
account, token rotation).

The HTML routes are left out of the OpenAPI document (``include_in_schema=False``); the
options route is part of the API and documented there.
"""

from __future__ import annotations

import contextlib
import hashlib
from functools import lru_cache
from importlib import resources

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ocrkit.errors import OcrkitError
from ocrkit.server.context import TooManyRequests, both, client_ip, state
from ocrkit.web import pages
from ocrkit.web import security as sec
from ocrkit.web.accounts import WebAccounts, WebUser, check_password, normalise_email
from ocrkit.web.options import options
from ocrkit.web.render import render_page

run = anyio.to_thread.run_sync

# name -> media type: the only files served under /web/.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "account.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
MAX_FORM_BYTES = 16 * 1024


def _limits(request: Request) -> sec.Limits:
    app_state = request.app.state
    if not hasattr(app_state, "web_limits"):
        app_state.web_limits = sec.Limits()
    return app_state.web_limits


# -- static files ---------------------------------------------------------------------------


@lru_cache(maxsize=len(STATIC))
def _static(name: str) -> tuple[bytes, str]:
    data = resources.files("ocrkit.web").joinpath("static", name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def _file(request: Request, name: str) -> Response:
    data, etag = _static(name)
    headers = {**sec.SECURITY_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=STATIC[name], headers=headers)


async def index(request: Request) -> Response:
    """GET /: the OCR page."""
    return _file(request, "index.html")


async def static(request: Request) -> Response:
    """GET /web/<name>: the page's CSS, JavaScript and icon."""
    name = request.path_params["name"]
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return _file(request, name)


# -- account pages ---------------------------------------------------------------------------


def _html(
    request: Request,
    title: str,
    body: str,
    *,
    csrf: str,
    new_csrf: bool,
    user: WebUser | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    st = state(request)
    page = pages.layout(
        title, body, signed_in=user is not None, signup_open=st.settings.signup == "open", csrf=csrf
    )
    all_headers = {**sec.SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
    resp = HTMLResponse(page, status_code=status, headers=all_headers)
    if new_csrf:
        sec.set_csrf(resp, request, csrf)
    return resp


async def _user(request: Request) -> WebUser | None:
    st = state(request)
    key = sec.secret_key(st.settings)
    secret = sec.unsign(key, request.cookies.get(sec.SESSION_COOKIE))
    if secret is None:
        return None
    return await run(WebAccounts(st.store).session_user, secret)


async def _form(request: Request) -> dict[str, str]:
    raw = request.headers.get("content-length")
    with contextlib.suppress(TypeError, ValueError):
        if raw is not None and int(raw) > MAX_FORM_BYTES:
            raise HTTPException(400, "the form is too large")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise HTTPException(400, "send the form as application/x-www-form-urlencoded")
    form = await request.form(max_files=0, max_fields=10)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _forbidden(request: Request, csrf: str, new: bool, user: WebUser | None) -> HTMLResponse:
    body = pages.error_page(
        "Form expired",
        "This form could not be checked (it came from another site, or the page is old). "
        "Reload the page and try again.",
    )
    return _html(request, "Forbidden", body, csrf=csrf, new_csrf=new, user=user, status=403)


def _signup_open(request: Request) -> None:
    if state(request).settings.signup != "open":
        raise HTTPException(404, "sign-up is closed on this server: ask its operator for a token")


async def signup_form(request: Request) -> Response:
    _signup_open(request)
    csrf, new = sec.csrf_token(request)
    user = await _user(request)
    if user is not None:
        return RedirectResponse("/account", status_code=303)
    return _html(request, "Sign up", pages.signup_form(csrf), csrf=csrf, new_csrf=new, user=None)


async def signup(request: Request) -> Response:
    _signup_open(request)
    st = state(request)
    csrf, new = sec.csrf_token(request)
    form = await _form(request)
    if not sec.csrf_ok(request, form.get(sec.CSRF_FIELD)):
        return _forbidden(request, csrf, new, None)
    raw_email = form.get("email", "")

    def again(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
        body = pages.signup_form(csrf, email=raw_email, error=message)
        return _html(
            request, "Sign up", body, csrf=csrf, new_csrf=new, user=None, status=status,
            headers=headers,
        )  # fmt: skip

    ip = client_ip(request, st.settings.trusted_proxies)
    limits = _limits(request)
    try:
        limits.signup_ip.check(ip)
        email = normalise_email(raw_email)
        password = form.get("password", "")
        check_password(password)
        digest = await run(sec.hash_password, password)
        web = WebAccounts(st.store)
        account, token = await run(web.sign_up, email, digest)
    except TooManyRequests as exc:
        return again(str(exc.detail), 429, {"Retry-After": str(exc.retry_after)})
    except OcrkitError as exc:
        return again(exc.message, exc.http_status)
    limits.signup_ip.record(ip)
    return await _signed_in_account(request, account.id, email, csrf, new, token, status=201)


async def _signed_in_account(
    request: Request,
    account_id: int,
    email: str,
    csrf: str,
    new_csrf: bool,
    token: str,
    *,
    status: int,
) -> Response:
    st = state(request)
    web = WebAccounts(st.store)
    secret = await run(web.start_session, account_id, st.settings.session_hours)
    user = await run(web.session_user, secret)
    assert user is not None
    resp = await _account_response(request, user, csrf, new_csrf, new_token=token, status=status)
    sec.set_session(resp, request, sec.secret_key(st.settings), secret, st.settings.session_hours)
    return resp


async def signin_form(request: Request) -> Response:
    csrf, new = sec.csrf_token(request)
    if await _user(request) is not None:
        return RedirectResponse("/account", status_code=303)
    body = pages.signin_form(csrf, signup_open=state(request).settings.signup == "open")
    return _html(request, "Sign in", body, csrf=csrf, new_csrf=new, user=None)


async def signin(request: Request) -> Response:
    st = state(request)
    csrf, new = sec.csrf_token(request)
    form = await _form(request)
    if not sec.csrf_ok(request, form.get(sec.CSRF_FIELD)):
        return _forbidden(request, csrf, new, None)
    raw_email = form.get("email", "")
    signup_open = st.settings.signup == "open"

    def again(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
        body = pages.signin_form(csrf, email=raw_email, error=message, signup_open=signup_open)
        return _html(
            request, "Sign in", body, csrf=csrf, new_csrf=new, user=None, status=status,
            headers=headers,
        )  # fmt: skip

    ip = client_ip(request, st.settings.trusted_proxies)
    email_key = raw_email.strip().lower()[:200]
    limits = _limits(request)
    try:
        limits.signin_ip.check(ip)
        limits.signin_email.check(email_key)
    except TooManyRequests as exc:
        message = f"Too many failed sign-ins; try again in {exc.retry_after} s."
        return again(message, 429, {"Retry-After": str(exc.retry_after)})
    web = WebAccounts(st.store)
    found = await run(web.find, email_key)
    stored = found.password_hash if found else sec.dummy_hash()
    ok, rehash = await run(sec.verify_password, stored, form.get("password", ""))
    if not ok or found is None:
        limits.signin_ip.record(ip)
        limits.signin_email.record(email_key)
        return again("Wrong email or password.", 401)
    if rehash:
        await run(web.set_password_hash, found.account.id, rehash)
    secret = await run(web.start_session, found.account.id, st.settings.session_hours)
    resp = RedirectResponse("/account", status_code=303)
    sec.set_session(resp, request, sec.secret_key(st.settings), secret, st.settings.session_hours)
    return resp


async def signout(request: Request) -> Response:
    st = state(request)
    csrf, new = sec.csrf_token(request)
    form = await _form(request)
    if not sec.csrf_ok(request, form.get(sec.CSRF_FIELD)):
        return _forbidden(request, csrf, new, await _user(request))
    secret = sec.unsign(sec.secret_key(st.settings), request.cookies.get(sec.SESSION_COOKIE))
    if secret:
        await run(WebAccounts(st.store).end_session, secret)
    resp = RedirectResponse("/", status_code=303)
    sec.clear_session(resp, request)
    return resp


async def _account_response(
    request: Request,
    user: WebUser,
    csrf: str,
    new_csrf: bool,
    *,
    new_token: str | None = None,
    status: int = 200,
) -> Response:
    from ocrkit.store import Caller

    st = state(request)
    caller = Caller(account=user.account, ip=client_ip(request, st.settings.trusted_proxies))
    web = WebAccounts(st.store)
    usage = await run(st.store.usage, caller)
    jobs = await run(lambda: st.store.list_jobs(user.account.id, limit=10))
    live = await run(web.live_tokens, user.account.id)
    body = pages.account_page(
        csrf, email=user.email, usage=usage, jobs=jobs, live_tokens=live, new_token=new_token
    )
    return _html(request, "Account", body, csrf=csrf, new_csrf=new_csrf, user=user, status=status)


async def account(request: Request) -> Response:
    user = await _user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    csrf, new = sec.csrf_token(request)
    return await _account_response(request, user, csrf, new)


async def rotate_token(request: Request) -> Response:
    user = await _user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    csrf, new = sec.csrf_token(request)
    form = await _form(request)
    if not sec.csrf_ok(request, form.get(sec.CSRF_FIELD)):
        return _forbidden(request, csrf, new, user)
    token = await run(WebAccounts(state(request).store).rotate_token, user.account)
    return await _account_response(request, user, csrf, new, new_token=token)


def web_routes() -> list[Route]:
    """The page, its files and the account pages (HTML; not in the OpenAPI document)."""
    return [
        Route("/", index, methods=["GET"], include_in_schema=False),
        Route("/web/render/{uuid}/{index:int}", render_page, include_in_schema=False),
        Route("/web/{name}", static, methods=["GET"], include_in_schema=False),
        *both("/signup", signup_form, ["GET"], include_in_schema=False),
        *both("/signup", signup, ["POST"], include_in_schema=False),
        *both("/signin", signin_form, ["GET"], include_in_schema=False),
        *both("/signin", signin, ["POST"], include_in_schema=False),
        *both("/signout", signout, ["POST"], include_in_schema=False),
        *both("/account", account, ["GET"], include_in_schema=False),
        *both("/account/token", rotate_token, ["POST"], include_in_schema=False),
    ]


def api_routes() -> list[Route]:
    """The JSON route the page reads its choices from (documented in the OpenAPI doc)."""
    return [
        Route("/api/v1/options", options, methods=["GET"]),
        Route("/api/v1/options/", options, methods=["GET"]),
    ]
