"""Who is calling: a token (header or ``?api_token=``) or an anonymous client address.

A token that is given but unknown or revoked is a 401, never a silent fall-back to
anonymous. The client address is the socket's, as the one proxy layer left it:
``X-Forwarded-For``/``X-Forwarded-Proto`` are applied by uvicorn's
``ProxyHeadersMiddleware`` (wrapped around the app by :func:`ocrkit.server.app.create_app`)
only when the socket peer is one of ``OCRKIT_TRUSTED_PROXIES``; nothing here parses them
again.

Failed token checks are limited per client address (:data:`AUTH_FAILURES_ALLOWED` per
:data:`AUTH_WINDOW_SECONDS`), counted **before** the check (a burst cannot overshoot),
the slot given back when the token is good. While an address is held, a token that
authenticated in the last :data:`KNOWN_GOOD_SECONDS` is still checked and let in: one
bad client behind a NAT does not lock out its colleagues' tokens, and a guesser learns
nothing (every unknown token gets the same 429 without being looked up).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from ocrkit.server.limits import Backend, Limiter, TooManyRequests, backend_for

if TYPE_CHECKING:
    from ocrkit.settings import Settings
    from ocrkit.store import Caller, Store

__all__ = ["TooManyRequests", "UNAUTHORIZED", "client_ip", "get_caller", "token_of"]

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}

# Failed authentications allowed per client address and window before answering 429.
AUTH_FAILURES_ALLOWED = 30
AUTH_WINDOW_SECONDS = 60.0
# A token that worked this recently passes an address's lockout.
KNOWN_GOOD_SECONDS = 24 * 3600.0


class AuthLimits:
    """Failed token checks per address, and the tokens known good (per app)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.failures = Limiter(backend, "auth", AUTH_FAILURES_ALLOWED, AUTH_WINDOW_SECONDS)

    @staticmethod
    def fingerprint(secret: str) -> str:
        return hashlib.sha256(b"ocrkit-known-good:" + secret.encode("utf-8")).hexdigest()

    def known_good(self, secret: str) -> bool:
        return self.backend.marked("good:" + self.fingerprint(secret))

    def remember(self, secret: str) -> None:
        self.backend.mark("good:" + self.fingerprint(secret), KNOWN_GOOD_SECONDS)


def auth_limits(conn: HTTPConnection, settings: Settings) -> AuthLimits:
    state = conn.app.state
    limits = getattr(state, "auth_limits", None)
    if limits is None:
        limits = state.auth_limits = AuthLimits(backend_for(settings))
    return limits


def token_of(conn: HTTPConnection) -> str | None:
    """The secret the request carries, ``""`` for a malformed header, None for none."""
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return ""
        return value.strip()
    query = conn.query_params.get("api_token")
    if query is not None:
        return query.strip()
    return None


def client_ip(conn: HTTPConnection) -> str:
    """The client's address as the proxy layer left it (the socket's, or the trusted
    proxy's X-Forwarded-For)."""
    return conn.client.host if conn.client else "unknown"


async def get_caller(conn: HTTPConnection, store: Store, settings: Settings) -> Caller:
    from ocrkit.store import Caller

    ip = client_ip(conn)
    secret = token_of(conn)
    if secret is None:
        return Caller(account=None, ip=ip)
    limits = auth_limits(conn, settings)
    slot = None
    if not (secret and limits.known_good(secret)):
        slot = limits.failures.take(ip)  # 429 here: the token is not even looked up
    account = await anyio.to_thread.run_sync(store.authenticate, secret) if secret else None
    if account is None:
        raise HTTPException(401, "invalid or revoked API token", headers=UNAUTHORIZED)
    if slot is not None:
        slot.release()  # a good token does not count
        limits.remember(secret)
    return Caller(account=account, ip=ip)
