"""What the test suite starts, it stops: processes, PostgreSQL databases, Redis keys.

Every process a test starts inherits ``OCRKIT_TEST_SESSION=<tag>`` from the environment
(set by ``tests/conftest.py`` before anything runs), so it can be found in ``/proc``
whatever happened to it: a test that failed before its ``finally``, a process that left
its group with ``start_new_session``, a child re-parented to PID 1. Test databases are
named ``..._t<tag>_...`` (:func:`database_name`) and Redis databases a test takes are
registered here (:func:`claim_redis_db`).

Two lines of defence:

* :func:`leftovers` is the guard: at the end of the session (after every fixture's
  teardown) it lists what is still alive or still exists; ``conftest.py`` fails the run
  when the list is not empty, then removes it all (:func:`clean_up`).
* a *reaper* process (:func:`start_reaper`, this file run as a script) waits on a pipe
  from the pytest process. When the pipe closes, because pytest ended in any way, SIGKILL
  and an out-of-memory kill included, it removes whatever this session left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

MARKER = "OCRKIT_TEST_SESSION"
STATE_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "ocrkit-test-sessions"
PG_ADMIN_URL = os.environ.get(
    "OCRKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def session_tag() -> str:
    """This session's tag, made once and inherited by every subprocess."""
    tag = os.environ.get(MARKER)
    if not tag:
        tag = uuid.uuid4().hex[:8]
        os.environ[MARKER] = tag
    return tag


def database_name(purpose: str) -> str:
    """A PostgreSQL database name that the guard and the reaper recognise."""
    return f"ocrkit_{purpose}_t{session_tag()}_{uuid.uuid4().hex[:6]}"


def _state_file(tag: str) -> Path:
    return STATE_DIR / f"{tag}.json"


def _read_state(tag: str) -> dict[str, Any]:
    try:
        return json.loads(_state_file(tag).read_text())
    except (OSError, ValueError):
        return {"redis": []}


def claim_redis_db(base_url: str) -> str:
    """A Redis URL on a database (1-15) that holds no keys now, registered so that it is
    emptied at the end of the session even if the test that took it never finishes."""
    import redis

    root = base_url.rsplit("/", 1)[0]
    taken = {u for u in _read_state(session_tag())["redis"]}
    for db in range(15, 0, -1):
        url = f"{root}/{db}"
        if url in taken:
            continue
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            if client.dbsize() == 0:
                _register_redis(url)
                return url
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database (1-15) at {root}")


def _register_redis(url: str) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = _read_state(session_tag())
    state["redis"] = sorted(set(state["redis"]) | {url})
    tmp = _state_file(session_tag()).with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(_state_file(session_tag()))


# ------------------------------------------------------------------ what is left


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def marked_processes(tag: str, exclude: set[int] = frozenset()) -> dict[int, str]:  # type: ignore[assignment]
    """Live processes carrying this session's marker, pid -> command line (zombies and
    the processes in ``exclude`` left out)."""
    needle = f"{MARKER}={tag}".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in exclude or pid == os.getpid():
            continue
        if needle not in _environ(pid).split(b"\0"):
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        found[pid] = _cmdline(pid)
    return found


def own_helpers(root: int) -> set[int]:
    """The pytest process's own multiprocessing helpers (forkserver, resource tracker)
    and their descendants: they end with the pytest process itself, not with a test."""
    helpers = {
        pid
        for pid in _all_pids()
        if _parent(pid) == root
        and ("multiprocessing.forkserver" in _cmdline(pid) or "resource_tracker" in _cmdline(pid))
    }
    changed = True
    while changed:
        more = {pid for pid in _all_pids() if _parent(pid) in helpers} - helpers
        helpers |= more
        changed = bool(more)
    return helpers


def _all_pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def test_databases(tag: str) -> list[str]:
    from sqlalchemy import create_engine

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s",
                {"p": f"%\\_t{tag}\\_%"},
            ).all()
    except Exception:  # PostgreSQL not running: no database of ours can exist
        return []
    finally:
        engine.dispose()
    return [r[0] for r in rows]


def redis_leftovers(tag: str) -> dict[str, int]:
    import redis

    out: dict[str, int] = {}
    for url in _read_state(tag)["redis"]:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            n = client.dbsize()
        except redis.RedisError:
            continue
        finally:
            client.close()
        if n:
            out[url] = n
    return out


def leftovers(tag: str, exclude: set[int], wait: float = 15.0) -> dict[str, Any]:
    """What this session left behind. Processes get ``wait`` seconds to finish exiting
    (a SIGTERMed server may still be flushing its store)."""
    deadline = time.monotonic() + wait
    procs = marked_processes(tag, exclude)
    while procs and time.monotonic() < deadline:
        time.sleep(0.25)
        procs = marked_processes(tag, exclude)
    found: dict[str, Any] = {}
    if procs:
        found["processes"] = procs
    dbs = test_databases(tag)
    if dbs:
        found["databases"] = dbs
    keys = redis_leftovers(tag)
    if keys:
        found["redis"] = keys
    return found


def clean_up(tag: str, exclude: set[int]) -> None:
    """Remove everything this session left: processes (TERM, then KILL), databases,
    Redis keys of the databases it took, and its state file."""
    procs = marked_processes(tag, exclude)
    for pid in procs:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while marked_processes(tag, exclude) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in marked_processes(tag, exclude):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        from sqlalchemy import create_engine

        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in test_databases(tag):
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            engine.dispose()
    with contextlib.suppress(Exception):
        import redis

        for url in _read_state(tag)["redis"]:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            try:
                client.flushdb()
            finally:
                client.close()
    _state_file(tag).unlink(missing_ok=True)


# ------------------------------------------------------------------ the reaper


def start_reaper(tag: str) -> subprocess.Popen[bytes]:
    """Start the reaper: it outlives pytest by design (own session, no marker) and acts
    when its stdin, a pipe that only this process holds, reaches end of file."""
    env = {k: v for k, v in os.environ.items() if k != MARKER}
    return subprocess.Popen(
        [sys.executable, __file__, tag, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        pass_fds=(),
        close_fds=True,
    )


def _reap(tag: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal's group
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()  # returns when pytest is gone (or closed the pipe)
    clean_up(tag, exclude={os.getpid()})


if __name__ == "__main__":
    _reap(sys.argv[1])
