"""The one Markdown escaper: document text in, Markdown that renders as that text out.

Text read from a page is data. Written into Markdown as it is, a page reading
``<img src=x onerror=alert(1)>``, ``![logo](http://evil.example/t.png)`` or
``[here](javascript:alert(1))`` becomes a live tag, a remote image (a tracking pixel)
or a script link in every Markdown viewer and API client that renders it.

- :func:`escape_inline` escapes a piece of plain text **once** (never re-escape its
  output): a backslash before ASCII punctuation or at the end, ``<`` (HTML, comments,
  autolinks), ``[`` and ``]`` (links, images, reference definitions) and ``&`` before
  an entity. Rendered by a CommonMark renderer it gives exactly the text back, with no
  tag, image or link. Emphasis marks and backticks are left alone (harmless, and
  common in real text).
- :func:`escape_block_start` then escapes what would make the line a heading, list,
  quote, fence, rule or table row (see :mod:`ocrkit.layout.markdown`).
- :func:`neutralise_markdown` is for Markdown a model wrote from a page (vlm engines,
  translation): its structure (headings, lists, tables, emphasis) stays, but raw HTML,
  images and links are turned into text; fenced code and code spans are left as they are.
"""

from __future__ import annotations

import re

_ASCII_PUNCT = re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_BACKSLASH = re.compile(rf"\\(?=[{_ASCII_PUNCT}]|$)")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_LINE_START = re.compile(
    r"^(\s*)(#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|\d{1,9}[.)](?=\s|$)|`{3,}|~{3,}"
    r"|[=\-_*]{3,}\s*$|=+\s*$|\|)"
)


def escape_inline(text: str) -> str:
    """Plain text as Markdown inline content that renders as exactly this text, with no
    HTML, image or link (escape once; see the module docstring)."""
    text = _BACKSLASH.sub(r"\\\\", text)
    text = _ENTITY.sub(r"\\&", text)
    return text.replace("<", "\\<").replace("[", "\\[").replace("]", "\\]")


def escape_block_start(text: str) -> str:
    """Escape block syntax at the start of an already inline-escaped line."""
    m = _LINE_START.match(text)
    if not m:
        return text
    lead, token = m.group(1), m.group(2)
    if token[0].isdigit():  # "1." -> "1\."
        return lead + token[:-1] + "\\" + token[-1] + text[len(lead) + len(token) :]
    return lead + "\\" + text[len(lead) :]


def escape_text(text: str) -> str:
    """A line of plain text as a Markdown paragraph line: inline and block escapes."""
    return escape_block_start(escape_inline(text.strip()))


# -- Markdown from a model ----------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_REF_DEF = re.compile(r"^(\s{0,3})\[")


def _neutralise_inline(line: str) -> str:
    out, last = [], 0
    for m in _CODE_SPAN.finditer(line):
        out.append(_neutralise_text(line[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_neutralise_text(line[last:]))
    return "".join(out)


def _neutralise_text(s: str) -> str:
    s = _TAG_START.sub(r"\\<", s)
    s = s.replace("![", "!\\[")
    s = s.replace("](", "\\](").replace("][", "\\][")
    return s


def neutralise_markdown(markdown: str) -> str:
    """Model-written Markdown with its structure kept and its raw HTML, images, links
    and link reference definitions made text (outside fenced code and code spans)."""
    out = []
    fence: str | None = None
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append(line)
            continue
        if m:
            fence = m.group(1)
            out.append(line)
            continue
        line = _REF_DEF.sub(r"\1\\[", line)
        out.append(_neutralise_inline(line))
    return "\n".join(out)
