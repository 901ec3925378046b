"""Rate limits that hold under concurrency, shared by every server process when configured.

A :class:`Limiter` is a sliding window of at most ``allowed`` hits per key. A request
**takes a slot before** the expensive check it guards (a password hash, a token look-up,
an account insert), atomically: of 40 requests arriving at once with 5 slots left, exactly
5 get through. When the check turns out fine and should not count (a correct password, a
valid token, a sign-up that failed validation) the slot is given back with
:meth:`Slot.release`.

Backends: in-process (a lock and a deque per key) by default; Redis when
``OCRKIT_RATELIMIT_URL`` is set, or when ``OCRKIT_BROKER_URL`` is a Redis URL (scale-out
servers then share every limit). The Redis backend is one Lua script per operation on a
sorted set per key, so it is atomic across processes too.

:class:`HashGate` bounds the memory of password hashing: argon2 takes 64 MiB per check,
so at most ``running`` checks run at once and at most ``queued`` wait; beyond that the
request is refused at once with 503 (nothing is allocated for it).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from ocrkit.settings import Settings

T = TypeVar("T")
log = logging.getLogger("ocrkit.server")

KEY_PREFIX = "ocrkit:rl:"


class TooManyRequests(HTTPException):
    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            429,
            detail or f"too many failed authentications; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class Busy(HTTPException):
    def __init__(self, retry_after: int = 2) -> None:
        super().__init__(
            503,
            "the server is busy checking passwords; retry in a moment",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class Backend(Protocol):
    def take(self, key: str, allowed: int, window: float) -> tuple[str | None, float]:
        """A slot id, or None and the seconds until one frees."""

    def give_back(self, key: str, slot: str) -> None: ...

    def count(self, key: str, window: float) -> int: ...

    def mark(self, key: str, ttl: float) -> None: ...

    def marked(self, key: str) -> bool: ...


class MemoryBackend:
    """Per-process sliding windows (one lock; O(1) amortised per call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[tuple[float, str]]] = {}
        self._marks: dict[str, float] = {}

    def _recent(self, key: str, now: float, window: float) -> deque[tuple[float, str]]:
        q = self._hits.setdefault(key, deque())
        while q and q[0][0] <= now - window:
            q.popleft()
        return q

    def take(self, key: str, allowed: int, window: float) -> tuple[str | None, float]:
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now, window)
            if len(q) >= allowed:
                return None, q[0][0] + window - now
            slot = secrets.token_hex(8)
            q.append((now, slot))
            if len(self._hits) > 10_000:  # forget idle keys
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return slot, 0.0

    def give_back(self, key: str, slot: str) -> None:
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                return
            for item in q:
                if item[1] == slot:
                    q.remove(item)
                    break

    def count(self, key: str, window: float) -> int:
        with self._lock:
            return len(self._recent(key, time.monotonic(), window))

    def mark(self, key: str, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._marks[key] = now + ttl
            if len(self._marks) > 100_000:
                self._marks = {k: v for k, v in self._marks.items() if v > now}

    def marked(self, key: str) -> bool:
        with self._lock:
            until = self._marks.get(key)
        return until is not None and until > time.monotonic()


# KEYS[1] = the window's sorted set; ARGV = now (ms), window (ms), allowed, slot id.
_TAKE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


class RedisBackend:
    """Sliding windows in Redis sorted sets, shared by every process using the URL. The
    time is Redis's own (``TIME``), so servers with skewed clocks still agree. When Redis
    does not answer, this process falls back to its own memory (and logs it) rather than
    failing requests: limits then hold per process until Redis is back."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._take = self.client.register_script(_TAKE)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.fallback = MemoryBackend()
        self._warned = 0.0

    def _down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("rate limits: Redis does not answer (%s); limiting per process", exc)

    def _now_ms(self) -> int:
        sec, usec = self.client.time()
        return int(sec) * 1000 + int(usec) // 1000

    def take(self, key: str, allowed: int, window: float) -> tuple[str | None, float]:
        slot = secrets.token_hex(8)
        try:
            ok, wait = self._take(
                keys=[KEY_PREFIX + key], args=[self._now_ms(), int(window * 1000), allowed, slot]
            )
        except self._errors as exc:
            self._down(exc)
            return self.fallback.take(key, allowed, window)
        return (slot, 0.0) if int(ok) else (None, float(wait) / 1000)

    def give_back(self, key: str, slot: str) -> None:
        try:
            self.client.zrem(KEY_PREFIX + key, slot)
        except self._errors as exc:
            self._down(exc)
        self.fallback.give_back(key, slot)

    def count(self, key: str, window: float) -> int:
        try:
            now = self._now_ms()
            return int(self.client.zcount(KEY_PREFIX + key, now - int(window * 1000), "+inf"))
        except self._errors as exc:
            self._down(exc)
            return self.fallback.count(key, window)

    def mark(self, key: str, ttl: float) -> None:
        try:
            self.client.set(KEY_PREFIX + "mark:" + key, b"1", px=int(ttl * 1000))
        except self._errors as exc:
            self._down(exc)
            self.fallback.mark(key, ttl)

    def marked(self, key: str) -> bool:
        try:
            return bool(self.client.exists(KEY_PREFIX + "mark:" + key))
        except self._errors as exc:
            self._down(exc)
            return self.fallback.marked(key)


@dataclass
class Slot:
    """A taken slot; :meth:`release` gives it back (the request did not count)."""

    backend: Backend
    key: str
    slot: str

    def release(self) -> None:
        self.backend.give_back(self.key, self.slot)


class Limiter:
    """At most ``allowed`` slots per key in any ``window`` seconds."""

    def __init__(self, backend: Backend, name: str, allowed: int, window: float) -> None:
        self.backend = backend
        self.name = name
        self.allowed = allowed
        self.window = window

    def take(self, key: str, detail: str | None = None) -> Slot:
        """A slot for ``key``, or :class:`TooManyRequests` (nothing taken)."""
        full = f"{self.name}:{key}"
        slot, wait = self.backend.take(full, self.allowed, self.window)
        if slot is None:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests(retry, detail.format(retry=retry) if detail else None)
        return Slot(self.backend, full, slot)

    def full(self, key: str) -> bool:
        return self.backend.count(f"{self.name}:{key}", self.window) >= self.allowed


def ratelimit_url(settings: Settings) -> str:
    """``OCRKIT_RATELIMIT_URL``, else the broker URL when it is Redis, else "" (memory)."""
    url = getattr(settings, "ratelimit_url", "") or ""
    if url:
        return "" if url == "memory" else url
    broker = settings.broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://", "unix://")) else ""


_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()


def backend_for(settings: Settings) -> Backend:
    """The Redis backend for the settings' URL (one per URL per process), else a new
    in-process one (each app has its own, so two apps in one process never share)."""
    url = ratelimit_url(settings)
    if not url:
        return MemoryBackend()
    with _backends_lock:
        if url not in _backends:
            _backends[url] = RedisBackend(url)
        return _backends[url]


# -- password hashing gate ----------------------------------------------------------------


class HashGate:
    """At most ``running`` password hashes at once, at most ``queued`` waiting for one."""

    def __init__(self, running: int = 2, queued: int = 32) -> None:
        self.running = running
        self.queued = queued
        self._sem = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._inside = 0  # running + waiting
        self.peak = 0

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` (in a worker thread) under the gate; :class:`Busy` when the
        queue is full."""
        with self._lock:
            if self._inside >= self.running + self.queued:
                raise Busy()
            self._inside += 1
        try:
            with self._sem:
                with self._lock:
                    self.peak = max(self.peak, min(self._inside, self.running))
                return fn(*args)
        finally:
            with self._lock:
                self._inside -= 1


hash_gate = HashGate()
