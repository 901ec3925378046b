"""Keep standard output for data only.

``ocrkit ocr scan.pdf --format pdf -o - > out.pdf`` must produce a valid PDF even when a
plugin (or a C library, or a worker process) prints something. While
:func:`protect_stdout` is active:

* file descriptor 1 points at stderr, so anything written to fd 1 -- ``print()``, a C
  library, a child process that inherited it -- lands on stderr;
* ``sys.stdout`` is the (text) stderr stream;
* the real standard output is kept on a duplicated descriptor that only
  :func:`write_data` writes to.

This is OCRmyPDF's ``_stdoutprotect`` habit, done at the descriptor level so worker
processes are covered too.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

_data: BinaryIO | None = None


def _real_stdout_fileno() -> int | None:
    try:
        return sys.__stdout__.fileno() if sys.__stdout__ is not None else None
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None


def stdout_is_tty() -> bool:
    """Whether the data stream (the real stdout) is a terminal."""
    if _data is not None:
        return _data.isatty()
    return sys.stdout.isatty()


@contextlib.contextmanager
def protect_stdout() -> Iterator[None]:
    """Send everything but :func:`write_data` output to stderr while active."""
    global _data
    fd = _real_stdout_fileno()
    out = sys.stdout
    if _data is not None or fd is None or out is None or out is not sys.__stdout__:
        # Nested, or stdout is not a real file (a test runner's capture): leave it be.
        yield
        return
    if out is not None:  # (for mypy: checked above)
        out.flush()
    saved = os.dup(fd)
    os.set_inheritable(saved, False)
    data = os.fdopen(saved, "wb", buffering=0, closefd=True)
    old_stdout = out
    os.dup2(sys.stderr.fileno(), fd)
    sys.stdout = sys.stderr
    _data = data
    try:
        yield
    finally:
        _data = None
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        sys.stdout = old_stdout
        os.dup2(saved, fd)
        data.close()


def write_data(data: bytes) -> None:
    """Write ``data`` to the real standard output."""
    if _data is not None:
        view = memoryview(data)
        while view:
            n = _data.write(view)
            view = view[n or 0 :]
        return
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # a text-only stream (tests): decode
        out.write(data.decode("utf-8", errors="replace"))
        out.flush()
