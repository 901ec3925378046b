"""One writer for every text cell ocrkit puts in a spreadsheet (xlsx, CSV).

Document text must never become a formula in the reader's spreadsheet program
(``=HYPERLINK(...)``, ``=cmd|...``, DDE). Following OWASP's CSV-injection advice:

- **CSV**: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading ``'`` (spreadsheets show the rest as text); the csv module
  quotes cells holding the separator, quotes or line breaks. A plain signed number
  (``-12.50``, ``+3``, ``-7%``) is left alone: it is data, not a formula.
- **xlsx**: every text is written as a string cell (``t="s"``/inline string), never a
  formula, whatever it starts with; XML-illegal control characters are dropped.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)*|[.,]\d+)%?")
# Control characters an XML cell cannot hold.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def csv_text(text: str) -> str:
    """``text`` made safe for a CSV cell (a leading ``'`` before a formula start)."""
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: list[Any]) -> list[Any]:
    """A CSV row: every ``str`` through :func:`csv_text`, numbers as they are."""
    return [csv_text(v) if isinstance(v, str) else v for v in values]


def xlsx_clean(text: str) -> str:
    return _ILLEGAL.sub("", text)


def xlsx_text(cell: Any, text: str | None) -> None:
    """Write ``text`` into an openpyxl cell as a string cell (empty text: no value)."""
    value = xlsx_clean(text or "")
    cell.value = value or None
    if value:
        cell.data_type = "s"  # openpyxl made "=..." a formula; a string it is
