"""One page, from the input file to an engine's lines: :mod:`~ocrkit.page.inputs` (what a
file is, its pages, one upright page image at a time), :mod:`~ocrkit.page.textlayer` (a
PDF page's own text), :mod:`~ocrkit.page.orient` (blank, skew, quarter turns, script) and
:mod:`~ocrkit.page.read` (a cpu engine reading the page the right way up in the right
languages)."""

from typing import Any

__all__ = ["held_bytes", "is_blank"]


def __getattr__(name: str) -> Any:
    # is_blank on first use: importing ocrkit.page.inputs (every CLI run) need not load
    # orient (~7 ms of a born-digital PDF's start-up when the bytecode is not cached)
    if name == "is_blank":
        from ocrkit.page.orient import is_blank

        return is_blank
    if name == "held_bytes":
        from ocrkit.page.inputs import held_bytes

        return held_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
