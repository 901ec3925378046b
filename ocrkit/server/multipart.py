"""Streaming multipart upload: the file part goes straight to disk under a byte limit.

Starlette's ``request.form()`` spools files to the system temp dir and limits only
non-file parts, so the submit route parses the body itself with python-multipart's
push parser: each chunk is fed as it arrives, file bytes are appended to a private file
(mode 0600) in the upload area, and the limit is enforced while streaming, so an
oversized body is rejected after reading at most ``max_bytes`` of it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ocrkit.errors import BadInput, LimitExceeded

# Room for the non-file fields and the multipart framing on top of the file limit.
FIELD_MAX_BYTES = 64 * 1024
MAX_PARTS = 32


@dataclass
class Upload:
    """What the submit form carried: its text fields and the file written to ``path``."""

    fields: dict[str, str] = field(default_factory=dict)
    # Every value of each text field, in order (``fields`` keeps the last one).
    lists: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    filename: str | None = None
    size: int = 0
    file_fields: list[str] = field(default_factory=list)


class _Collector:
    def __init__(self, dest: Path, file_field: str, max_bytes: int) -> None:
        self.dest = dest
        self.file_field = file_field
        self.max_bytes = max_bytes
        self.upload = Upload()
        self._fd: int | None = None
        self._parts = 0
        self._hname = b""
        self._hval = b""
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self.ended = False

    # -- python-multipart callbacks ----------------------------------------------------
    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadInput(f"too many form fields (at most {MAX_PARTS})")
        self._disposition = b""
        self._data = bytearray()
        self._is_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hval += data[start:end]
        if len(self._hval) > FIELD_MAX_BYTES:
            raise BadInput("multipart header too long")

    def on_header_end(self) -> None:
        if self._hname.lower() == b"content-disposition":
            self._disposition = self._hval
        self._hname = b""
        self._hval = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BadInput('a multipart part has no Content-Disposition "name"')
        self._name = _decode(options[b"name"])
        self._is_file = b"filename" in options
        if self._is_file:
            self.upload.file_fields.append(self._name)
        if self._is_file and self._name == self.file_field:
            if self._fd is not None:
                raise BadInput(f"send exactly one {self.file_field!r} file")
            self.upload.filename = _decode(options[b"filename"]) or None
            self._fd = os.open(self.dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self.upload.path = self.dest

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._is_file and self._name == self.file_field and self._fd is not None:
            self.upload.size += n
            if self.upload.size > self.max_bytes:
                raise LimitExceeded(f"file too large: the limit is {self.max_bytes} bytes")
            os.write(self._fd, data[start:end])
        elif not self._is_file:
            self._data += data[start:end]
            if len(self._data) > FIELD_MAX_BYTES:
                raise BadInput(f"form field {self._name!r} is too long")
        # other file parts are ignored (their bytes still count towards the body limit)

    def on_part_end(self) -> None:
        if not self._is_file:
            try:
                value = self._data.decode("utf-8")
                self.upload.fields[self._name] = value
                self.upload.lists.setdefault(self._name, []).append(value)
            except UnicodeDecodeError:
                raise BadInput(f"form field {self._name!r} is not UTF-8 text") from None

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


async def receive_upload(
    content_type: str,
    stream: AsyncIterator[bytes],
    dest: Path,
    *,
    max_bytes: int,
    content_length: int | None = None,
    file_field: str = "file",
) -> Upload:
    """Parse a ``multipart/form-data`` body from ``stream``; the part named ``file_field``
    is written to ``dest``. Raises :class:`BadInput` / :class:`LimitExceeded` (400);
    on any error ``dest`` is removed."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise BadInput("send the file as multipart/form-data with a 'file' field")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadInput("multipart body without a boundary")
    body_limit = max_bytes + FIELD_MAX_BYTES
    if content_length is not None and content_length > body_limit:
        raise LimitExceeded(f"file too large: the limit is {max_bytes} bytes")
    col = _Collector(dest, file_field, max_bytes)
    callbacks = {
        name: getattr(col, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > body_limit:
                raise LimitExceeded(f"file too large: the limit is {max_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
        if not col.ended:
            raise BadInput("truncated multipart body (no closing boundary)")
    except MultipartParseError as exc:
        col.close()
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise BadInput(f"malformed multipart body: {exc}") from None
    except BaseException:
        col.close()
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise
    col.close()
    return col.upload
