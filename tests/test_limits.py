"""The limiter and the password-hash gate on their own (issue 20; the bursts through a
real server are in test_security.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ocrkit.server.limits import (
    Busy,
    HashGate,
    Limiter,
    MemoryBackend,
    RedisBackend,
    TooManyRequests,
    ratelimit_url,
)
from ocrkit.settings import load_settings


def _burst(limiter: Limiter, n: int, key: str = "k") -> int:
    barrier = threading.Barrier(n)

    def one(_: int) -> bool:
        barrier.wait()
        try:
            limiter.take(key)
        except TooManyRequests:
            return False
        return True

    with ThreadPoolExecutor(n) as pool:
        return sum(pool.map(one, range(n)))


def test_a_burst_gets_exactly_the_allowed_slots() -> None:
    assert _burst(Limiter(MemoryBackend(), "t", 30, 60), 100) == 30


def test_redis_that_does_not_answer_falls_back_to_memory_limits() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0")  # nothing listens on port 1
    limiter = Limiter(backend, "t", 3, 60)
    slots = [limiter.take("k") for _ in range(3)]
    with pytest.raises(TooManyRequests):
        limiter.take("k")
    slots[0].release()
    limiter.take("k")
    backend.mark("m", 60)
    assert backend.marked("m")


def test_ratelimit_url_defaults_to_a_redis_broker() -> None:
    assert ratelimit_url(load_settings(env={})) == ""
    assert ratelimit_url(load_settings(env={"OCRKIT_BROKER_URL": "redis://h:6379/1"})) == (
        "redis://h:6379/1"
    )
    env = {"OCRKIT_BROKER_URL": "redis://h/1", "OCRKIT_RATELIMIT_URL": "redis://r/2"}
    assert ratelimit_url(load_settings(env=env)) == "redis://r/2"
    env["OCRKIT_RATELIMIT_URL"] = "memory"
    assert ratelimit_url(load_settings(env=env)) == ""


def test_hash_gate_runs_a_few_at_once_and_refuses_past_its_queue() -> None:
    gate = HashGate(running=2, queued=3)
    inside = peak = busy = 0
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        release.wait(10)  # held until the other requests have arrived
        with lock:
            inside -= 1

    def one(_: int) -> str:
        nonlocal busy
        try:
            gate.run(work)
        except Busy as exc:
            assert exc.status_code == 503
            with lock:
                busy += 1
            return "busy"
        return "ran"

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(one, i) for i in range(10)]
        deadline = time.monotonic() + 10
        while busy < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        results = [f.result() for f in futures]
    assert peak == 2
    assert results.count("ran") == 5 and results.count("busy") == 5
