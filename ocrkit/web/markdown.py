"""A page's Markdown as HTML for the web page, rendered on the server by markdown-it-py.

CommonMark plus pipe tables, with the web page's rules: raw HTML in the text is shown
as text (``html=False``), links and images become their text (the page makes no request
the user did not ask for, and no ``javascript:`` link can exist), and nested lists stay
nested. The result is safe to insert into the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

_md: MarkdownIt | None = None


def _text_only(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return ""


def _image_alt(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    return self.renderInline(token.children or [], options, env) if token.children else ""


def _cell(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """Table cells: alignment as a class (the page's CSP allows no style attributes)."""
    token = tokens[idx]
    style = str(token.attrs.pop("style", ""))
    if style.startswith("text-align:"):
        token.attrSet("class", "align-" + style.split(":", 1)[1])
    return self.renderToken(tokens, idx, options, env)


def _get() -> MarkdownIt:
    global _md
    if _md is None:
        md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
        md.add_render_rule("link_open", _text_only)
        md.add_render_rule("link_close", _text_only)
        md.add_render_rule("image", _image_alt)
        md.add_render_rule("th_open", _cell)
        md.add_render_rule("td_open", _cell)
        # Every link is rendered as its text, so none needs to be refused as unsafe
        # (refused ones would show their raw Markdown, target included).
        md.validateLink = lambda url: True  # type: ignore[method-assign]
        _md = md
    return _md


def render(markdown: str) -> str:
    """Safe HTML for ``markdown``."""
    return _get().render(markdown or "")
