"""Shared fixtures: the corpus, pages rendered from known text, the registry."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import leaks  # noqa: E402  (what the tests start, they stop: see tests/leaks.py)
import pytest

# The metric (NFKC, folded quotes/dashes, whitespace collapsed; character edits over the
# truth's length) is ocrkit.eval.textmetrics's: tests, autobench and `make bench` agree.
from ocrkit.eval.textmetrics import cer, normalise  # noqa: F401  (used by the tests)

# Before any test starts a process: every subprocess inherits this session's marker.
SESSION_TAG = leaks.session_tag()

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# The example and broken plugins are installed (`make test-plugins`) into their own
# directory; put it on the path of this process and of every subprocess a test starts.
TEST_PLUGINS = ROOT / "build" / "test-plugins"
if TEST_PLUGINS.is_dir():
    sys.path.insert(0, str(TEST_PLUGINS))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TEST_PLUGINS), os.environ.get("PYTHONPATH", "")) if p
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}; set OCRKIT_CORPUS")
    return CORPUS


@pytest.fixture
def render_page(tmp_path: Path) -> Callable[..., Path]:
    """Render lines of known text to an image file (exact truth, free)."""

    def make(
        lines: list[str],
        name: str = "page.png",
        size: tuple[int, int] = (1700, 2200),
        font_size: int = 40,
        dpi: int = 200,
    ) -> Path:
        from PIL import Image, ImageDraw, ImageFont

        img = Image.new("L", size, 255)
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(FONT, font_size)
        y = 150
        for line in lines:
            draw.text((150, y), line, font=font, fill=0)
            y += int(font_size * 1.8)
        out = tmp_path / name
        img.save(out, dpi=(dpi, dpi))
        return out

    return make


def tessdata_dir() -> Path:
    """Where the installed Tesseract keeps its models (from ``--list-langs``)."""
    import re
    import subprocess

    out = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r'"(.+?)"', out.splitlines()[0])
    assert m, out
    return Path(m.group(1))


@pytest.fixture
def reduced_tessdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A TESSDATA_PREFIX holding only some of the installed models (symlinks), so a
    test of a missing language cannot be passed by installing that language.
    ``reduced_tessdata("eng", "osd")`` sets TESSDATA_PREFIX for this process and the
    subprocesses it starts and returns the directory."""

    def make(*keep: str) -> Path:
        src = tessdata_dir()
        out = tmp_path / "tessdata"
        out.mkdir()
        for name in keep:
            (out / f"{name}.traineddata").symlink_to(src / f"{name}.traineddata")
        monkeypatch.setenv("TESSDATA_PREFIX", str(out))
        return out

    return make


# ---------------------------------------------------------------- leftovers guard


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`, a closed terminal's SIGHUP) unwinds like Ctrl-C, so
    # every fixture's teardown runs and stops what it started.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_REAPER] = leaks.start_reaper(SESSION_TAG)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)


_REAPER = pytest.StashKey["object"]()


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):  # type: ignore[no-untyped-def]
    yield  # after pytest's own sessionfinish, which tears down every fixture
    reaper = session.config.stash.get(_REAPER, None)
    exclude = leaks.own_helpers(os.getpid()) | ({reaper.pid} if reaper else set())  # type: ignore[attr-defined]
    found = leaks.leftovers(SESSION_TAG, exclude)
    if found:
        lines = ["", "LEFT BEHIND BY THE TESTS (tests/leaks.py; now removed):"]
        for pid, cmd in found.get("processes", {}).items():
            lines.append(f"  process {pid}: {cmd[:200]}")
        lines += [f"  PostgreSQL database {name}" for name in found.get("databases", [])]
        lines += [f"  Redis {url}: {n} keys" for url, n in found.get("redis", {}).items()]
        print("\n".join(lines), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    leaks.clean_up(SESSION_TAG, exclude)
