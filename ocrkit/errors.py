"""Errors with a message for people and an exit code for shells.

Every error ocrkit raises on purpose is an :class:`OcrkitError`. The CLI prints its
message on stderr and exits with its :class:`ExitCode`; the server answers it with
``http_status`` and ``{"detail": message}``. Anything else is a bug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """``ocrkit`` exit codes (documented in docs/cli.md)."""

    ok = 0
    other_error = 1  # an unexpected failure (a bug: please report it)
    bad_args = 2  # invalid command-line usage (click's own code)
    input_file = 3  # unreadable, unsupported, corrupt or empty input
    limit = 4  # over a limit: bytes, pages, pixels per page
    encrypted = 5  # password-protected PDF without (or with a wrong) --password
    engine = 6  # engine or language unavailable, or an engine failure
    output = 7  # cannot write the output, or the format cannot be produced
    partial = 8  # several inputs: at least one failed, the others were written


class OcrkitError(Exception):
    exit_code: ExitCode = ExitCode.other_error
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(OcrkitError):
    """The input is empty, of an unsupported type, truncated or corrupt."""

    exit_code = ExitCode.input_file


class LimitExceeded(OcrkitError):
    """The input is over a configured limit (bytes, pages, pixels per page)."""

    exit_code = ExitCode.limit


class EncryptedInput(OcrkitError):
    """A PDF needs a password that was not given (or was wrong)."""

    exit_code = ExitCode.encrypted


class BadOption(OcrkitError):
    """An option value is not valid: unknown engine, format, tool, language, page range."""

    exit_code = ExitCode.bad_args


class EngineUnavailable(OcrkitError):
    """The chosen engine, tool or language cannot be used on this machine right now."""

    exit_code = ExitCode.engine


class EngineFailed(OcrkitError):
    """An engine crashed or returned nonsense on a page."""

    exit_code = ExitCode.engine
    http_status = 500


class ExportFailed(OcrkitError):
    """The output cannot be produced (for example a pdf without the original input)."""

    exit_code = ExitCode.output


class StoreBusy(OcrkitError):
    """The store did not answer in time: SQLite locked by another process, PostgreSQL
    unreachable. Nothing was written; the request can be retried."""

    exit_code = ExitCode.other_error
    http_status = 503


class NoSpace(OcrkitError):
    """The disk is full (or a file-size limit was hit): nothing partial was kept."""

    exit_code = ExitCode.output
    http_status = 507


_NO_SPACE_ERRNOS = {28, 27, 122}  # ENOSPC, EFBIG, EDQUOT


def storage_error(exc: BaseException) -> OcrkitError | None:
    """The clear error for a storage failure deep inside a request or job, or None when
    ``exc`` is not one (then it is a bug and stays an internal error)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _NO_SPACE_ERRNOS:
            return NoSpace("no space left on the server's disk; nothing was stored")
        text = str(cur).lower()
        if type(cur).__name__ == "OperationalError" or "sqlite3" in type(cur).__module__:
            if "full" in text or "too large" in text:
                return NoSpace("no space left on the server's disk; nothing was stored")
            if "locked" in text or "busy" in text:
                return StoreBusy("the store is busy (locked by another process); retry shortly")
            return StoreBusy("the store does not answer; retry shortly")
        cur = cur.__cause__ or cur.__context__
    return None
