"""One page, from the input file to an engine's lines: :mod:`~ocrkit.page.inputs` (what a
file is, its pages, one upright page image at a time), :mod:`~ocrkit.page.textlayer` (a
PDF page's own text), :mod:`~ocrkit.page.orient` (blank, skew, quarter turns, script) and
:mod:`~ocrkit.page.read` (a cpu engine reading the page the right way up in the right
languages)."""

from ocrkit.page.orient import is_blank

__all__ = ["is_blank"]
