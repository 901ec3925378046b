"""Server paths out of messages: what an error or a note shows a client never names the
data dir, the temp dir or the home dir (``<data>``, ``<tmp>``, ``~``)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

__all__ = ["redact"]


def _variants(path: Path) -> list[str]:
    out = {str(path)}
    with contextlib.suppress(OSError):
        out.add(str(path.resolve()))
    return sorted((p for p in out if len(p) > 1), key=len, reverse=True)


def redact(text: str, data_dir: Path | None = None) -> str:
    """``text`` with the data dir as ``<data>``, the temp dir as ``<tmp>`` and the home
    dir as ``~`` (longest first, so a data dir under the home dir reads ``<data>``)."""
    if not text or "/" not in text and "\\" not in text:
        return text
    pairs: list[tuple[str, str]] = []
    if data_dir is not None:
        pairs += [(p, "<data>") for p in _variants(Path(data_dir))]
    pairs += [(p, "<tmp>") for p in _variants(Path(tempfile.gettempdir()))]
    home = str(Path("~").expanduser())
    if home not in ("/", "~"):
        pairs += [(p, "~") for p in _variants(Path(home))]
    for path, placeholder in sorted(pairs, key=lambda p: len(p[0]), reverse=True):
        text = text.replace(path, placeholder)
    return text
