"""The ``vlm`` engine: a vision-language model on an OpenAI-compatible server.

A plugin package that doubles as an example: it imports only itself, the standard
library, third-party packages and ocrkit's public modules. See :mod:`.engine`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.hookspecs import Engine

from .engine import HANDWRITING_PROMPT, MAX_SIDE, PAGE_PROMPT, PROMPTS, VlmEngine

if TYPE_CHECKING:
    from .answer import build_result, markdown_lines
    from .guards import cut_loop, find_loop, is_blank, wrong_script

# Imported on first use: every ocrkit command that builds the registry imports this
# package, and .answer pulls in ocrkit.layout.
_LAZY = {
    "build_result": ".answer",
    "markdown_lines": ".answer",
    "cut_loop": ".guards",
    "find_loop": ".guards",
    "is_blank": ".guards",
    "wrong_script": ".guards",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HANDWRITING_PROMPT",
    "MAX_SIDE",
    "PAGE_PROMPT",
    "PROMPTS",
    "VlmEngine",
    "build_result",
    "cut_loop",
    "find_loop",
    "is_blank",
    "markdown_lines",
    "wrong_script",
]


@hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(VlmEngine())
