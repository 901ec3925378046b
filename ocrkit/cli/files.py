"""Inputs and outputs of ``ocrkit ocr`` / ``ocrkit export``: expanding files and
directories, choosing the format, writing to a file or the protected stdout."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocrkit.cli.stdout import stdout_is_tty, write_data
from ocrkit.errors import BadInput, BadOption, ExportFailed

if TYPE_CHECKING:
    from ocrkit.models import Job
    from ocrkit.plugins import Registry


def choose_format(reg: Registry, fmt: str | None, output: str | None, to_dir: bool) -> str:
    """``--format``, else the ``-o`` file's extension, else ``txt``."""
    if fmt:
        reg.exporter(fmt)
        return fmt
    if output and output != "-" and not to_dir:
        suffix = Path(output).suffix.lower().lstrip(".")
        if suffix:
            for name, exporter in reg.exporters.items():
                if suffix in (name, exporter.extension.lower().lstrip(".")):
                    return name
            raise BadOption(
                f"cannot tell the format from {output!r}; pass --format "
                f"(one of: {', '.join(sorted(reg.exporters))})"
            )
    reg.exporter("txt")
    return "txt"


def refuse_binary_tty(reg: Registry, fmt: str, output: str | None) -> None:
    if (output in (None, "-")) and not reg.exporter(fmt).is_text and stdout_is_tty():
        raise ExportFailed(
            f"refusing to write binary {fmt} output to a terminal; "
            "use -o FILE or redirect stdout (-o - > file)"
        )


def write_output(data: bytes, dest: str | Path) -> None:
    if str(dest) == "-":
        write_data(data)
        return
    path = Path(dest)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportFailed(f"cannot write {path}: {exc.strerror or exc}") from None


def read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        raise BadOption(
            "`-` reads standard input, but it is a terminal; give a FILE or pipe data in"
        )
    return sys.stdin.buffer.read()


def read_job_file(source: str) -> Job:
    """A saved job (the json format of ``ocrkit ocr``) from a file or ``-`` (stdin);
    BadInput when it cannot be read or is not one."""
    import json

    from ocrkit.models import Job

    name = "stdin" if source == "-" else source
    try:
        raw = read_stdin() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise BadInput(f"{name}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("pages"), list):
            raise ValueError("no pages")
        return Job.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{name}: not a saved ocrkit job (the json format): {exc}") from None


@dataclass
class Input:
    """One thing to read: a file, or standard input (``path is None``)."""

    path: Path | None

    @property
    def name(self) -> str:
        return self.path.name if self.path else "stdin"


def expand_inputs(args: tuple[str, ...]) -> tuple[list[Input], bool]:
    """Files, directories (their files, sorted, hidden ones skipped) and ``-``.
    Returns the inputs and whether the outputs must go to a directory."""
    if not args:
        args = ("-",) if not sys.stdin.isatty() else ()
    if not args:
        raise BadOption("no input: give FILE, DIR or - (standard input)")
    inputs: list[Input] = []
    has_dir = False
    for arg in args:
        if arg == "-":
            inputs.append(Input(None))
            continue
        path = Path(arg)
        if path.is_dir():
            has_dir = True
            inputs.extend(
                Input(p)
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            inputs.append(Input(path))
    if sum(i.path is None for i in inputs) > 1:
        raise BadOption("`-` (standard input) can be given only once")
    return inputs, has_dir or len(inputs) > 1


def output_paths(inputs: list[Input], outdir: Path, extension: str) -> list[Path]:
    """``outdir/<stem>.<ext>`` per input; a clash keeps the input's suffix too."""
    seen: set[Path] = set()
    out = []
    for item in inputs:
        stem = item.path.stem if item.path else "stdin"
        candidates = [stem, item.name] + [f"{item.name}-{n}" for n in range(2, 10_000)]
        for base in candidates:
            path = outdir / f"{base}.{extension}"
            if path not in seen:
                break
        seen.add(path)
        out.append(path)
    return out
