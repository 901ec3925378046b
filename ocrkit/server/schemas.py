"""JSON Schemas of the job model, generated from its dataclasses (:mod:`ocrkit.models`).

The OpenAPI document (:mod:`ocrkit.server.openapi`) takes ``Job``, ``Page``, ``Block``,
``Word``, ``Table`` and ``Cell`` from here, so a field added to the model is documented
the moment it is served. Only what a type cannot say is written down: descriptions,
enumerations and the two fields a response may leave out (``Page.tables`` when there
are none, ``Job.pages`` in job lists).

The published schemas allow extra keys (API.md: clients must ignore keys they do not
know); :func:`strict` makes the copy the tests check real responses against, where an
unknown key is an error (``extra`` objects excepted: they are free-form by design).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any

from ocrkit import models

# The model classes, in the order the document lists them.
MODELS: tuple[type, ...] = (
    models.Word,
    models.Block,
    models.Cell,
    models.Table,
    models.Page,
    models.Job,
)
BBOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
# Fields a response may leave out (everything else is always there).
OPTIONAL = {"Page.tables", "Job.pages"}
ENUMS: dict[str, list[str]] = {
    "Job.status": list(models.STATUSES),
    "Job.tier": ["cpu", "vlm"],
    "Block.type": list(models.BLOCK_TYPES),
    "Page.source": ["ocr", "text-layer"],
}
DESCRIPTIONS = {
    "Cell": "A table cell; row and col are 0-based, a spanning cell covers "
    "row_span x col_span grid positions from its top-left one.",
    "Block": "One line of text, in reading order.",
    "Block.bbox": "null only for a vlm line that matched no word on the page "
    "(then flags holds unaligned)",
    "Block.flags": "unaligned, low_confidence",
    "Block.extra": "What the engine says about the line, when anything: the vlm engine's "
    "box (words: from words the cpu engine read; line: a text line found on the page; "
    "estimated: placed there, but uncertain) and words (estimated: cut from the line's box "
    "in proportion to their lengths)",
    "Page.index": "0-based, in the input",
    "Page.tables": "with tool=extract-tables (absent otherwise)",
    "Page.original_text": "translate tool: the recognised text (text holds the translation)",
    "Page.source": "ocr, or text-layer (a PDF page's own text)",
    "Page.extra": "what engines and tools add (free-form)",
    "Job.pages": "absent in job lists",
    "Job.pages_done": "pages finished so far (progress while pending or processing)",
    "Job.dpi": "resolution PDF pages were rendered at",
    "Job.extra": "what tools add, and input_pages (free-form)",
}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a Python type annotation of the model."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = (
            type_schema(rest[0]) if len(rest) == 1 else {"anyOf": [type_schema(a) for a in rest]}
        )
        if type(None) not in args:
            return inner
        if set(inner) == {"type"} and isinstance(inner["type"], str):
            return {"type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]}
    if tp is Any:
        return {}
    raise TypeError(f"no JSON Schema for {tp!r}")


def dataclass_schema(cls: type) -> dict[str, Any]:
    """An object schema with one property per field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    name = cls.__name__
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{name}.{f.name}"
        prop = type_schema(hints[f.name])
        if f.name == "bbox":  # [x0, y0, x1, y1]
            nullable = type(None) in typing.get_args(hints[f.name])
            prop = {"anyOf": [BBOX, {"type": "null"}]} if nullable else dict(BBOX)
        if key in ENUMS:
            prop = {**prop, "enum": ENUMS[key]}
        if key in DESCRIPTIONS:
            prop = {**prop, "description": DESCRIPTIONS[key]}
        props[f.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "required": [p for p in props if f"{name}.{p}" not in OPTIONAL],
        "properties": props,
    }
    if name in DESCRIPTIONS:
        schema["description"] = DESCRIPTIONS[name]
    return schema


def model_schemas() -> dict[str, dict[str, Any]]:
    """``{"Job": {...}, "Page": {...}, ...}`` for the OpenAPI components."""
    return {cls.__name__: dataclass_schema(cls) for cls in MODELS}


def strict(schemas: dict[str, Any]) -> dict[str, Any]:
    """A copy where every object with listed properties forbids other keys (``extra``
    and untyped objects stay free-form): what tests check real responses against."""
    out = copy.deepcopy(schemas)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out
