"""The ``handwriting-to-text`` tool: the vlm tier with a handwriting prompt.

Its preset asks for ``tier=vlm`` and the engine's handwriting prompt (lines in reading
order, one output line per written line, ``[illegible]`` for what cannot be read); the
lines are aligned to the cpu engine's words like any vlm page (handwriting often leaves
lines ``unaligned``: Tesseract reads little of it). Without a model server it follows
``OCRKIT_VLM_FALLBACK`` exactly like ``tier=vlm``: ``cpu`` reads the page with the cpu
engine and says so in the job's warnings, ``off`` refuses the job (400 / CLI exit 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import Tool


class HandwritingTool(Tool):
    name = "handwriting-to-text"
    description = "Handwriting to text with the vlm tier (lines in reading order)"
    preset: ClassVar[dict[str, Any]] = {"tier": "vlm", "vlm_prompt": "handwriting"}


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(HandwritingTool())
