"""Passwords, session cookies, CSRF and headers for the web pages.

- Passwords: argon2id through argon2-cffi (its default, RFC 9106 low-memory profile).
- Session cookie ``ocrkit_session``: ``<secret>.<HMAC-SHA256(key, secret)>``, HttpOnly,
  SameSite=Lax, Secure when the request came over https. The store keeps a hash of the
  secret, so a session can be ended on sign-out.
- CSRF: every form carries a random token that must equal the ``ocrkit_csrf`` cookie
  (double submit; another site can neither read nor set the cookie), and a POST whose
  Origin (or Referer) names another origin is refused before that.
- Every page and static file carries a Content-Security-Policy that allows only this
  origin: nothing the page loads can leave the machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ocrkit.server.context import AuthFailures, in_networks

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from ocrkit.settings import Settings

SESSION_COOKIE = "ocrkit_session"
CSRF_COOKIE = "ocrkit_csrf"
CSRF_FIELD = "csrf"

# blob: for page images and downloads fetched with the Authorization header.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# Failed sign-ins allowed per client address (and per email) per window before 429.
SIGNIN_FAILURES_ALLOWED = 5
SIGNIN_WINDOW_SECONDS = 300.0
# Sign-ups per client address per hour.
SIGNUPS_ALLOWED = 10
SIGNUP_WINDOW_SECONDS = 3600.0


class Limits:
    """The per-app counters (one set per app, so two apps in one process never share)."""

    def __init__(self) -> None:
        self.signin_ip = AuthFailures(SIGNIN_FAILURES_ALLOWED, SIGNIN_WINDOW_SECONDS)
        self.signin_email = AuthFailures(SIGNIN_FAILURES_ALLOWED * 4, SIGNIN_WINDOW_SECONDS)
        self.signup_ip = AuthFailures(SIGNUPS_ALLOWED, SIGNUP_WINDOW_SECONDS)


# -- passwords ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when the email is unknown (same time either way)."""
    return hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored: str, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash to store if the parameters changed since)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    ph = hasher()
    try:
        ph.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, ph.hash(password) if ph.check_needs_rehash(stored) else None


# -- signed session cookie ----------------------------------------------------------------


def secret_key(settings: Settings) -> bytes:
    """``OCRKIT_SECRET_KEY``, else a random key kept in ``<data_dir>/web-secret`` (0600)."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    return _file_key(settings.data_dir / "web-secret")


@lru_cache(maxsize=8)
def _file_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode("ascii")
    tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(key)
    try:
        path.hardlink_to(tmp)  # the first writer wins; everyone then reads the same key
    except FileExistsError:
        key = path.read_bytes().strip()
    finally:
        tmp.unlink()
    return key


def _mac(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(key: bytes, value: str) -> str:
    return f"{value}.{_mac(key, value)}"


def unsign(key: bytes, signed: str | None) -> str | None:
    if not signed or "." not in signed or len(signed) > 300:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(key, value)) else None


def scheme_of(request: Request) -> str:
    """The scheme the browser used: ``X-Forwarded-Proto`` when the socket peer is one of
    ``OCRKIT_TRUSTED_PROXIES`` (a TLS-terminating proxy), else the request's own."""
    settings = getattr(request.app.state, "settings", None)
    trusted = settings.trusted_proxies if settings is not None else ()
    proto = request.headers.get("x-forwarded-proto")
    peer = request.client.host if request.client else ""
    if proto and trusted and in_networks(peer, trusted):
        return proto.split(",")[0].strip().lower()
    return request.url.scheme


def is_https(request: Request) -> bool:
    return scheme_of(request) == "https"


def set_session(response: Response, request: Request, key: bytes, secret: str, hours: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sign(key, secret),
        max_age=hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


# -- CSRF ---------------------------------------------------------------------------------


def csrf_token(request: Request) -> tuple[str, bool]:
    """The CSRF token of this browser, and whether it is new (then set the cookie)."""
    have = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(have) <= 100:
        return have, False
    return secrets.token_urlsafe(32), True


def set_csrf(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    own = f"{scheme_of(request)}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own  # "null" (sandboxed, file:) is never ours
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True  # neither header: not a browser form post from another page


def csrf_ok(request: Request, form_token: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not same_origin(request) or not cookie or not form_token:
        return False
    return hmac.compare_digest(cookie.encode("utf-8"), form_token.encode("utf-8"))
