"""Built-in plugin: the watched folder (see :mod:`ocrkit.watch`).

- ``register_commands`` adds ``ocrkit watch IN_DIR OUT_DIR``;
- ``register_services`` runs the folders given to ``ocrkit serve --watch IN_DIR:OUT_DIR``
  for the server's lifetime, on the server's own page-worker pool.

Module-level imports stay light: every ``ocrkit`` command imports every plugin.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ocrkit import hookimpl
from ocrkit.hookspecs import Service

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("ocrkit.watch")


def watch_options(
    formats: tuple[str, ...],
    settle: float,
    poll: bool | None,
    poll_interval: float,
    runners: int,
    **ocr: Any,
) -> Any:
    from ocrkit.watch import WatchOptions

    return WatchOptions(
        formats=list(formats) or ["txt"],
        ocr={k: v for k, v in ocr.items() if v is not None and v is not False},
        settle=settle,
        poll=poll,
        poll_interval=poll_interval,
        runners=runners,
    )


@click.command("watch")
@click.argument("in_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "-f",
    "formats",
    multiple=True,
    metavar="FORMAT",
    help="Output format; repeat for several (-f pdf -f txt) [default: txt].",
)
@click.option("--engine", "-e", metavar="NAME", help="OCR engine (see `ocrkit engines`).")
@click.option("--tier", type=click.Choice(["cpu", "vlm"]), default="cpu", show_default=True)
@click.option("--language", "-l", default="auto", show_default=True, metavar="LANG")
@click.option("--tool", "-t", metavar="NAME", help="A tool's preset and post-processing.")
@click.option("--translate-to", metavar="LANG", help="Target language for the translate tool.")
@click.option("--dpi", type=click.IntRange(50, 1200), metavar="N", help="PDF render resolution.")
@click.option("--force-ocr", is_flag=True, help="OCR PDF pages even with a text layer.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="Page-worker processes [default: one per core; 1 reads in-process].",
)
@click.option(
    "--runners",
    type=click.IntRange(min=1),
    metavar="N",
    help="Files read at a time [default: the number of page workers].",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="A file is read once its size and time have not changed for this long.",
)
@click.option(
    "--poll/--no-poll",
    default=None,
    help="Poll instead of inotify [default: poll only on NFS/SMB/sshfs shares].",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the folder is listed.",
)
@click.option("--once", is_flag=True, help="Read what is in IN_DIR now, then exit.")
@click.option("--verbose", "-v", is_flag=True, help="Also log when a file starts.")
def watch_command(
    in_dir: Path,
    out_dir: Path,
    formats: tuple[str, ...],
    jobs: int | None,
    runners: int | None,
    settle: float,
    poll: bool | None,
    poll_interval: float,
    once: bool,
    verbose: bool,
    **ocr: Any,
) -> None:
    """OCR every file dropped into IN_DIR: outputs go to OUT_DIR, the input to
    IN_DIR/done/ (or IN_DIR/failed/ with NAME.error.txt). One watcher per folder;
    after a crash, half-done files are redone and none is read twice."""
    import os
    import signal

    from ocrkit.watch import Watcher

    if ocr.get("dpi") is None:
        from ocrkit.settings import load_settings

        ocr["dpi"] = load_settings().dpi
    workers = jobs or os.cpu_count() or 1
    options = watch_options(formats, settle, poll, poll_interval, runners or workers, **ocr)
    logging.getLogger("ocrkit.watch").setLevel(logging.DEBUG if verbose else logging.INFO)
    watcher = Watcher(in_dir, out_dir, options, jobs=workers)
    watcher.start()

    def stop(signum: int, frame: Any) -> None:
        watcher.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            watcher.run_once()
        else:
            watcher.run()
    finally:
        watcher.close()


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(watch_command)


# ---------------------------------------------------------------------- serve --watch


class WatchService(Service):
    """The folders of ``ocrkit serve --watch IN_DIR:OUT_DIR`` (``app.state.watch_folders``:
    a list of ``(in_dir, out_dir, WatchOptions)``), watched in threads on the server's
    page-worker pool, stopped with the server."""

    name = "watch"
    description = "watched folders (serve --watch)"

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        import threading

        import anyio.to_thread

        from ocrkit.watch import Watcher

        folders = list(getattr(app.state, "watch_folders", None) or [])
        st = app.state.ocrkit
        watchers: list[Any] = []
        threads: list[threading.Thread] = []
        try:
            for in_dir, out_dir, options in folders:
                options.ocr.setdefault("dpi", st.settings.dpi)
                w = Watcher(
                    in_dir,
                    out_dir,
                    options,
                    executor=st.jobs.pool,
                    jobs=1,
                    registry=st.registry,
                )
                await anyio.to_thread.run_sync(w.start)
                watchers.append(w)
                t = threading.Thread(target=w.run, name=f"ocrkit-watch-{in_dir}", daemon=True)
                t.start()
                threads.append(t)
            yield
        finally:
            for w in watchers:
                w.stop_event.set()
            for t in threads:
                await anyio.to_thread.run_sync(t.join, 30)
            for w in watchers:
                await anyio.to_thread.run_sync(w.close)


@hookimpl
def register_services(register: Callable[[Service], None]) -> None:
    register(WatchService())
