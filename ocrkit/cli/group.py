"""The ``ocrkit`` command line.

Data goes to stdout (protected from stray prints, see :mod:`ocrkit.cli.stdout`), messages
and progress to stderr. Every deliberate failure is an :class:`~ocrkit.errors.OcrkitError`
and exits with its :class:`~ocrkit.errors.ExitCode`; anything else is a bug and exits 1
with a one-line message (the traceback with ``--debug`` or ``OCRKIT_DEBUG=1``).

Choices for ``--engine``, ``--tool`` and ``--format`` come from the plugin registry. The
server commands are imported only when used (:class:`LazyGroup`), and plugins add their
own through the ``register_commands`` hook, so ``ocrkit --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ocrkit.cli.stdout import protect_stdout, write_data
from ocrkit.errors import ExitCode, OcrkitError

if TYPE_CHECKING:
    from ocrkit.plugins import Registry

log = logging.getLogger("ocrkit")
_debug = os.environ.get("OCRKIT_DEBUG", "") not in ("", "0")

# name -> ("module:attribute", short help shown by --help without importing the module).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("ocrkit.cli.serve:serve", "Run the HTTP API (and the web page)."),
    "accounts": ("ocrkit.cli.accounts:accounts", "Manage accounts, plans and credits."),
    "tokens": ("ocrkit.cli.accounts:tokens", "Create, list and revoke API tokens."),
    "worker": ("ocrkit.cli.worker:worker", "Run a queue worker (needs OCRKIT_BROKER_URL)."),
    "chat": ("ocrkit.cli.chat:chat", "Ask a finished job questions; answers cite pages."),
    "languages": (
        "ocrkit.cli.languages:languages_command",
        "List installed OCR languages and how to add others.",
    ),
}


class PartialFailure(OcrkitError):
    """Several inputs: at least one failed; the others were written."""

    exit_code = ExitCode.partial


def _registry() -> Registry:
    from ocrkit.plugins import get_registry

    return get_registry()


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


class LazyGroup(click.Group):
    """A group whose server commands are imported on use, and whose plugin commands are
    added (``register_commands``) only when a name is not a built-in one."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from ocrkit.plugins import command_plugin_manager

        hook = command_plugin_manager().hook.register_commands
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(cli=self)
            except Exception as exc:  # one broken plugin must not break the CLI
                log.warning("plugin %s failed in register_commands: %s", impl.plugin_name, exc)

    def _lazy(self, name: str) -> click.Command | None:
        module, _, attr = LAZY_COMMANDS[name][0].partition(":")
        if not _module_exists(module):
            return None
        cmd = getattr(importlib.import_module(module), attr, None)
        if isinstance(cmd, click.Command):
            self.add_command(cmd, name)
            return cmd
        return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        lazy = {n for n, (path, _) in LAZY_COMMANDS.items() if _module_exists(path.split(":")[0])}
        return sorted(set(self.commands) | lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in LAZY_COMMANDS:
            return self._lazy(cmd_name)
        self._load_plugin_commands()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][1]))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class RegistryOption(click.Option):
    """An option whose valid values are names in the registry (engines, tools,
    exporters). Validation happens in the command through the registry's own clear
    errors; this class only lists the names in ``--help`` and shell completion."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(*args, **kwargs)

    def _names(self) -> list[str]:
        from ocrkit.plugins import registry_names  # no plugin module imported for these

        return registry_names(self.kind)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        try:
            names = self._names()
        except Exception:  # help must work even with a broken registry
            return record
        return record[0], f"{record[1]} [one of: {', '.join(names) or 'none installed'}]"

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in self._names() if n.startswith(incomplete)]


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    global _debug
    _debug = _debug or value
    if _debug:
        log.setLevel(logging.DEBUG)
        logging.getLogger("ocrkit.plugins").setLevel(logging.DEBUG)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    """-v: what happens (INFO) on stderr; -vv: details too (DEBUG)."""
    if value and not _debug:
        log.setLevel(logging.INFO if value == 1 else logging.DEBUG)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    None,
    "-V",
    "--version",
    package_name="ocrkit",
    prog_name="ocrkit",
    message="%(prog)s %(version)s",
)
@click.option(
    "--verbose",
    "-v",
    count=True,
    expose_value=False,
    is_eager=True,
    callback=_set_verbose,
    help="Say what happens on stderr (-vv: more detail).",
)
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show tracebacks and plugin-loading details (also OCRKIT_DEBUG=1).",
)
def cli() -> None:
    """ocrkit: images and PDFs to text, Markdown, tables, JSON, DOCX and searchable PDF.

    \b
    ocrkit ocr scan.pdf                       text on stdout
    cat scan.png | ocrkit ocr - --format md   read stdin
    ocrkit ocr a.pdf scans/ -f md -o out/     one output per input
    ocrkit ocr scan.tif -f json | ocrkit export - -f docx -o scan.docx
    """


def protected(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command with stdout reserved for :func:`emit` / :func:`write_data`."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with protect_stdout():
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def emit(text: str) -> None:
    write_data((text if text.endswith("\n") else text + "\n").encode("utf-8"))


def warn(text: str) -> None:
    click.echo(f"ocrkit: warning: {text}", err=True)


def warn_failed_plugins(reg: Registry) -> None:
    if reg.failures:
        names = ", ".join(sorted({f.name for f in reg.failures}))
        warn(f"plugin(s) failed to load: {names} (see `ocrkit plugins`)")


def debug_enabled() -> bool:
    return _debug


# -------------------------------------------------------------------------- main


def _configure_logging() -> None:
    class Fmt(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"ocrkit: {record.levelname.lower()}: {record.getMessage()}"

    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(Fmt())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.DEBUG if _debug else logging.WARNING)
    # Load failures are summarised once per command and listed by `ocrkit plugins`.
    logging.getLogger("ocrkit.plugins").setLevel(logging.DEBUG if _debug else logging.ERROR)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting (tests call this)."""
    _configure_logging()
    try:
        rv = cli.main(args=argv, prog_name="ocrkit", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("ocrkit: interrupted", err=True)
            return 130
        click.echo("ocrkit: aborted", err=True)
        return int(ExitCode.other_error)
    except OcrkitError as exc:
        click.echo(f"ocrkit: error: {exc.message}", err=True)
        return int(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`ocrkit ocr ... | head`): stop quietly, like SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        if _debug:
            import traceback

            traceback.print_exc()
        hint = "" if _debug else " (rerun with --debug for the traceback)"
        click.echo(f"ocrkit: error: unexpected {type(exc).__name__}: {exc}{hint}", err=True)
        return int(ExitCode.other_error)


def main(argv: list[str] | None = None) -> None:
    code = run(argv)
    _exit(code)
    sys.exit(code)


def _exit(code: int) -> None:
    """End the process now, without the interpreter's teardown, when nothing needs it.

    Python's own exit frees every module and object one by one (after ``ocrkit ocr``
    on 207 born-digital pages, ~60 ms of CPU at the very end of the command; ~50 ms
    after a 1-page run). When no other thread runs (so none is left to join), the
    atexit handlers run as usual, standard output and error are flushed, and the
    process ends with ``os._exit``. Otherwise (a thread alive, a flush failing) this
    returns and the caller exits the ordinary way."""
    import threading

    if threading.active_count() != 1:
        return
    import atexit

    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return  # let the ordinary exit report it
    os._exit(code)
