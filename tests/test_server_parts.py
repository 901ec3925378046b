"""Server parts without OCR: the streaming upload limit, client addresses, the scheduler,
and ``ocrkit serve --get``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.requests import HTTPConnection

from ocrkit.errors import BadInput, LimitExceeded
from ocrkit.jobs.scheduler import Scheduler
from ocrkit.server.auth import client_ip, token_of
from ocrkit.server.multipart import receive_upload

BOUNDARY = "b0undary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _head(name: str = "file", filename: str | None = "a.png") -> bytes:
    fn = f'; filename="{filename}"' if filename else ""
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{fn}\r\n\r\n'.encode()


def test_upload_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        yield _head()
        while True:  # a body that never ends: only a streaming limit can stop it
            consumed += 65536
            yield b"\0" * 65536

    dest = tmp_path / "up"
    with pytest.raises(LimitExceeded, match="too large"):
        asyncio.run(receive_upload(CTYPE, endless(), dest, max_bytes=1_000_000))
    assert consumed <= 1_000_000 + 2 * 65536
    assert not dest.exists()


def test_declared_oversized_body_is_refused_before_reading(tmp_path: Path) -> None:
    read = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield b""

    with pytest.raises(LimitExceeded):
        asyncio.run(
            receive_upload(
                CTYPE, body(), tmp_path / "up", max_bytes=1000, content_length=10_000_000
            )
        )
    assert not read


def test_upload_fields_and_file(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield _head("tier", None) + b"vlm\r\n"
        yield _head("file", "inv.pdf") + b"%PDF-1.7 data"
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    dest = tmp_path / "up"
    up = asyncio.run(receive_upload(CTYPE, body(), dest, max_bytes=1000))
    assert up.fields == {"tier": "vlm"} and up.filename == "inv.pdf"
    assert dest.read_bytes() == b"%PDF-1.7 data" and (dest.stat().st_mode & 0o777) == 0o600


def test_two_files_are_refused(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield _head() + b"one\r\n" + _head() + b"two"
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    with pytest.raises(BadInput, match="exactly one"):
        asyncio.run(receive_upload(CTYPE, body(), tmp_path / "up", max_bytes=1000))
    assert not (tmp_path / "up").exists()


def _conn(peer: str, headers: dict[str, str], query: str = "") -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "client": (peer, 1234),
        "headers": raw,
        "query_string": query.encode(),
        "path": "/",
    }
    return HTTPConnection(scope)


def test_forwarded_for_counts_only_from_trusted_proxies() -> None:
    xff = {"X-Forwarded-For": "198.51.100.7, 10.0.0.5"}
    assert client_ip(_conn("203.0.113.1", xff), ()) == "203.0.113.1"
    assert client_ip(_conn("203.0.113.1", xff), ("10.0.0.0/8",)) == "203.0.113.1"
    trusted = ("10.0.0.0/8",)
    assert client_ip(_conn("10.0.0.9", xff), trusted) == "198.51.100.7"
    assert client_ip(_conn("10.0.0.9", {}), trusted) == "10.0.0.9"


def test_token_sources() -> None:
    assert token_of(_conn("1.2.3.4", {"Authorization": "Bearer abc"})) == "abc"
    assert token_of(_conn("1.2.3.4", {}, "api_token=xyz")) == "xyz"
    assert token_of(_conn("1.2.3.4", {"Authorization": "Basic abc"})) == ""
    assert token_of(_conn("1.2.3.4", {})) is None


def test_failed_authentications_are_rate_limited() -> None:
    from ocrkit.server.auth import AuthFailures, TooManyRequests

    f = AuthFailures(allowed=3, window=60)
    for _ in range(3):
        f.check("192.0.2.1")
        f.record("192.0.2.1")
    with pytest.raises(TooManyRequests) as exc:
        f.check("192.0.2.1")
    assert exc.value.status_code == 429 and 1 <= exc.value.retry_after <= 60
    f.check("192.0.2.2")  # other addresses are not affected


def test_scheduler_takes_higher_priority_first() -> None:
    gate = threading.Event()
    order: list[str] = []

    def run(uuid: str) -> None:
        if uuid == "first":
            gate.wait(5)
        order.append(uuid)

    sched = Scheduler(run, runners=1)
    sched.submit("first", 0)
    time.sleep(0.1)  # "first" is running; the rest queue behind it
    for name in ("free-1", "free-2"):
        sched.submit(name, 0)
    sched.submit("paid", 10)
    assert sched.depth() == 3
    gate.set()

    async def wait_all() -> None:
        for name in ("first", "free-1", "free-2", "paid"):
            await asyncio.wait_for(sched.wait(name), 5)

    asyncio.run(wait_all())
    sched.request_stop()
    sched.join()
    assert order == ["first", "paid", "free-1", "free-2"]


def test_serve_get_answers_one_request(tmp_path: Path) -> None:
    from ocrkit.cli.serve import serve

    result = CliRunner().invoke(
        serve, ["--get", "/api/v1/openapi.json", "--data-dir", str(tmp_path), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert '"openapi":"3.1.0"' in result.output.replace(" ", "")
    missing = CliRunner().invoke(serve, ["--get", "/nope", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "detail" in missing.output
