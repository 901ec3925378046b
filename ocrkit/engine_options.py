"""Engine options: ``--engine-option KEY=VALUE`` on the CLI, ``engine_option`` on the API.

An engine declares what it takes in ``Engine.engine_options`` (Tesseract: ``psm`` and
``c``); :func:`check` turns the user's ``KEY=VALUE`` strings into the dict the engine's
``recognize(..., options={"engine_options": {...}})`` receives, or raises BadOption
naming what the engine does take. ``ocrkit engines --json`` lists them per engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ocrkit.errors import BadOption


@dataclass(frozen=True)
class EngineOption:
    name: str
    type: str  # "int" or "str"
    help: str
    repeatable: bool = False  # given several times: a list, in order
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None  # a str value must match it (re.fullmatch)

    def info(self) -> dict[str, Any]:
        return asdict(self)


def split_pairs(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """``["psm=6", "c=a=b"]`` -> ``[("psm", "6"), ("c", "a=b")]`` (split at the first =)."""
    out = []
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise BadOption(f"engine options are KEY=VALUE, not {pair!r}")
        out.append((key.strip(), value))
    return out


def check(engine: Any, given: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated options for ``engine`` (an empty dict when none were given)."""
    if not given:
        return {}
    items = list(given.items()) if isinstance(given, Mapping) else split_pairs(given)
    declared = {o.name: o for o in getattr(engine, "engine_options", ())}
    out: dict[str, Any] = {}
    for key, raw in items:
        opt = declared.get(key)
        if opt is None:
            takes = ", ".join(sorted(declared)) or "none"
            raise BadOption(f"engine {engine.name!r} has no option {key!r}; it takes: {takes}")
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            parsed = _value(opt, value)
            if opt.repeatable:
                out.setdefault(key, []).append(parsed)
            else:
                out[key] = parsed
    return out


def _value(opt: EngineOption, raw: Any) -> Any:
    where = f"engine option {opt.name}={raw!r}"
    if opt.type == "int":
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise BadOption(f"{where}: must be a whole number") from None
        low, high = opt.minimum, opt.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise BadOption(f"{where}: must be between {low} and {high}")
        return value
    text = str(raw)
    if opt.pattern and not re.fullmatch(opt.pattern, text):
        raise BadOption(f"{where}: {opt.help}")
    return text
