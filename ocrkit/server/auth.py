"""Who is calling: a token (header or ``?api_token=``) or an anonymous client address.

A token that is given but unknown or revoked is a 401, never a silent fall-back to
anonymous. The client address is the socket's; ``X-Forwarded-For`` counts only when the
socket peer is one of ``settings.trusted_proxies``.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from ocrkit.settings import Settings
    from ocrkit.store import Caller, Store

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}

# Failed authentications allowed per client address and window before answering 429.
AUTH_FAILURES_ALLOWED = 30
AUTH_WINDOW_SECONDS = 60.0


class TooManyRequests(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            f"too many failed authentications; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class AuthFailures:
    """Failed token checks per client address in a sliding window (guessing tokens is
    slow work: each client gets :data:`AUTH_FAILURES_ALLOWED` per window)."""

    def __init__(self, allowed: int = AUTH_FAILURES_ALLOWED, window: float = AUTH_WINDOW_SECONDS):
        self.allowed = allowed
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> deque[float]:
        q = self._seen.setdefault(ip, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._recent(ip, now)
            if len(q) >= self.allowed:
                raise TooManyRequests(max(1, math.ceil(q[0] + self.window - now)))

    def record(self, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(ip, now).append(now)
            if len(self._seen) > 10_000:  # forget idle addresses
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]


failures = AuthFailures()


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


def in_networks(addr: str, networks: tuple[str, ...]) -> bool:
    """Whether ``addr`` is in one of ``networks`` (addresses or CIDR blocks)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(conn: HTTPConnection, trusted_proxies: tuple[str, ...]) -> str:
    """The socket address, or the first untrusted hop of X-Forwarded-For (right to left)
    when the socket peer is a trusted proxy."""
    peer = conn.client.host if conn.client else "unknown"
    if not trusted_proxies or not in_networks(peer, trusted_proxies):
        return peer
    forwarded = conn.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


async def get_caller(conn: HTTPConnection, store: Store, settings: Settings) -> Caller:
    from ocrkit.store import Caller

    ip = client_ip(conn, settings.trusted_proxies)
    secret = token_of(conn)
    if secret is None:
        return Caller(account=None, ip=ip)
    failures.check(ip)
    account = await anyio.to_thread.run_sync(store.authenticate, secret) if secret else None
    if account is None:
        failures.record(ip)
        raise HTTPException(401, "invalid or revoked API token", headers=UNAUTHORIZED)
    return Caller(account=account, ip=ip)
