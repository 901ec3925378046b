"""The ``vlm`` engine: a vision-language model on an OpenAI-compatible server.

A plugin package that doubles as an example: it imports only itself, the standard
library, third-party packages and ocrkit's public modules. See :mod:`.engine`.
"""

from __future__ import annotations

from collections.abc import Callable

from ocrkit import hookimpl
from ocrkit.hookspecs import Engine

from .answer import build_result, markdown_lines
from .engine import HANDWRITING_PROMPT, MAX_SIDE, PAGE_PROMPT, PROMPTS, VlmEngine
from .guards import cut_loop, find_loop, is_blank, wrong_script

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
