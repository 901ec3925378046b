"""What a base install of ocrkit weighs, and what moving some requirements to an extra
would save (docs/operations.md quotes it).

    python scripts/install_size.py [NAME,NAME ...]

Sizes are the installed files of each distribution (its RECORD), over the requirement
closure of ocrkit's base requirements (no extras). Each argument is a comma-separated
candidate extra: the distributions only it brings, and their size.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DEFAULT = [
    "starlette,uvicorn,python-multipart,sqlalchemy,alembic,argon2-cffi,prometheus-client",
    "mcp",
]


def size(name: str) -> int:
    dist = metadata.distribution(name)
    total = 0
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if path.is_file():
            total += path.stat().st_size
    return total


def closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def main(candidates: list[str]) -> None:
    reqs = [Requirement(r) for r in metadata.requires("ocrkit") or []]
    base = [r.name for r in reqs if r.marker is None]
    everything = closure(base)
    total = sum(size(n) for n in everything)
    print(f"base install: {len(everything)} distributions, {total / 1e6:.1f} MB")
    for candidate in candidates:
        moved = {canonicalize_name(n) for n in candidate.split(",")}
        only = everything - closure([b for b in base if canonicalize_name(b) not in moved])
        mb = sum(size(n) for n in only) / 1e6
        print(f"{candidate}: {len(only)} distributions, {mb:.1f} MB ({mb * 1e8 / total:.1f} %)")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
