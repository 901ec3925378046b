"""The session guard of tests/leaks.py, checked by running small pytest sessions of our
own (with this suite's conftest as their plugin) that leave things behind on purpose:
the guard must fail them and remove what they left, and the reaper must clean up after
a session that was killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import leaks
import pytest

TESTS = Path(__file__).resolve().parent


def nested_env() -> dict[str, str]:
    # A session of its own: without the marker, the inner conftest makes a new tag.
    env = {k: v for k, v in os.environ.items() if k != leaks.MARKER}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    return env


def start_nested(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    test = tmp_path / "test_inner.py"
    test.write_text(textwrap.dedent(body))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "conftest",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(test),
        ],
        cwd=tmp_path,
        env=nested_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # Ctrl-C must reach the inner session even when this one was started in the
        # background of a script (`make test &`): the shell starts it with SIGINT ignored,
        # every process inherits that, and Python then raises no KeyboardInterrupt.
        preexec_fn=_sigint_default,
    )


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path} never written")


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return not alive(pid)


LEAVES_A_PROCESS = """
    import subprocess, sys
    from pathlib import Path

    def test_forgets_its_server(tmp_path):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                start_new_session=True)
        Path({pidfile!r}).write_text(str(proc.pid))
"""


def test_guard_fails_a_session_that_leaves_a_process_and_removes_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    inner = start_nested(tmp_path, LEAVES_A_PROCESS.format(pidfile=str(pidfile)))
    out, _ = inner.communicate(timeout=120)
    pid = int(pidfile.read_text())
    assert inner.returncode == 1, out
    assert "1 passed" in out and "LEFT BEHIND BY THE TESTS" in out, out
    assert f"process {pid}:" in out and "time.sleep(300)" in out, out
    assert gone_within(pid, 10), "the guard reported the process but left it running"


def test_guard_passes_a_session_that_stops_what_it_starts(tmp_path: Path) -> None:
    body = """
        import subprocess, sys

        def test_stops_its_server():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                    start_new_session=True)
            proc.kill()
            proc.wait()
    """
    inner = start_nested(tmp_path, body)
    out, _ = inner.communicate(timeout=120)
    assert inner.returncode == 0, out
    assert "LEFT BEHIND" not in out, out


HOLDS_A_PROCESS = """
    import os, signal, subprocess, sys, time
    from pathlib import Path
    import pytest

    @pytest.fixture
    def server():
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                start_new_session=True)
        Path({pidfile!r}).write_text(str(proc.pid))
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            Path({torndown!r}).write_text("yes")

    def test_waits(server):
        time.sleep(300)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_terminated_session_still_runs_its_teardowns(tmp_path: Path, sig: int) -> None:
    pidfile, torndown = tmp_path / "pid", tmp_path / "torndown"
    inner = start_nested(
        tmp_path, HOLDS_A_PROCESS.format(pidfile=str(pidfile), torndown=str(torndown))
    )
    try:
        pid = int(wait_for(pidfile))
        inner.send_signal(sig)
        out, _ = inner.communicate(timeout=60)
    finally:
        if inner.poll() is None:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait()
    assert inner.returncode != 0, out
    assert torndown.read_text() == "yes", out  # the fixture's finally ran
    assert not alive(pid)
    assert "LEFT BEHIND" not in out, out


def test_the_reaper_cleans_up_after_a_killed_session(tmp_path: Path) -> None:
    pidfile, torndown = tmp_path / "pid", tmp_path / "torndown"
    inner = start_nested(
        tmp_path, HOLDS_A_PROCESS.format(pidfile=str(pidfile), torndown=str(torndown))
    )
    try:
        pid = int(wait_for(pidfile))
        assert alive(pid)
        os.kill(inner.pid, signal.SIGKILL)  # no teardown, no sessionfinish: only the reaper
        inner.communicate(timeout=30)
    finally:
        if inner.poll() is None:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait()
    assert not torndown.exists()
    assert gone_within(pid, 15), "the reaper did not stop the killed session's process"


def test_guard_finds_a_left_database_and_redis_keys_and_removes_them(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    body = """
        import leaks, redis
        from pathlib import Path
        from sqlalchemy import create_engine

        def test_forgets_to_drop():
            name = leaks.database_name("leaktest")
            admin = create_engine(leaks.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {{name}}")
            admin.dispose()
            url = leaks.claim_redis_db("redis://127.0.0.1:6379/0")
            redis.Redis.from_url(url).set("left", "behind")
            Path({names!r}).write_text(name + " " + url)
    """
    names = tmp_path / "names"
    inner = start_nested(tmp_path, body.format(names=str(names)))
    out, _ = inner.communicate(timeout=120)
    if "OperationalError" in out or "ConnectionError" in out:
        pytest.skip("PostgreSQL or Redis does not answer here")
    name, url = names.read_text().split()
    assert inner.returncode == 1, out
    assert f"PostgreSQL database {name}" in out and f"Redis {url}: 1 keys" in out, out
    from sqlalchemy import create_engine

    admin = create_engine(leaks.PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
            ).all()
    finally:
        admin.dispose()
    assert rows == []
    import redis

    client = redis.Redis.from_url(url)
    try:
        assert client.exists("left") == 0
    finally:
        client.close()
