"""``ocrkit serve``: run the API with uvicorn, or answer one request with ``--get``."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from ocrkit.cli.options import store_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Page-worker processes [default: OCRKIT_WORKERS, else one per core].",
)
@store_options("Store, page images and uploads")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level of ocrkit and uvicorn [default: OCRKIT_LOG_LEVEL, else info].",
)
@click.option(
    "--get",
    "get_path",
    metavar="PATH",
    default=None,
    help="Answer one GET request for PATH in-process, print the body and exit "
    "(exit status 1 when the answer is an error).",
)
@click.option(
    "--watch",
    "watch",
    multiple=True,
    metavar="IN_DIR:OUT_DIR",
    help="Also OCR every file dropped into IN_DIR, outputs to OUT_DIR, on the server's "
    "page workers (see `ocrkit watch`; repeatable).",
)
@click.option(
    "--watch-format",
    "watch_formats",
    multiple=True,
    metavar="FORMAT",
    help="Output format(s) of the watched folders [default: txt].",
)
def serve(
    host: str,
    port: int,
    workers: int | None,
    data_dir: Path | None,
    broker: str | None,
    database: str | None,
    log_level: str | None,
    get_path: str | None,
    watch: tuple[str, ...] = (),
    watch_formats: tuple[str, ...] = (),
) -> None:
    """Serve the OCR API (OCR.chat-compatible) on the embedded default: a SQLite store
    and in-process page workers. With --broker (and --database), the API enqueues pages
    for `ocrkit worker` processes on any machine instead."""
    from ocrkit.server.app import create_app
    from ocrkit.settings import load_settings

    settings = load_settings(
        workers=workers,
        data_dir=data_dir,
        broker_url=broker,
        database_url=database,
        log_level=log_level,
    )
    if get_path is not None:
        app = create_app(settings, warm_workers=False)
        with warnings.catch_warnings():  # starlette warns about httpx; harmless here
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient

        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get(get_path)
        click.echo(response.text, nl=not response.text.endswith("\n"))
        sys.exit(0 if response.status_code < 400 else 1)
    import uvicorn

    from ocrkit.server import logs

    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    if watch:
        from ocrkit.watch import folders_option

        app.state.watch_folders = folders_option(watch, watch_formats, app.state.registry)
    log = logging.getLogger("ocrkit.server")
    log.info("serving on http://%s:%d (data in %s)", host, port, settings.data_dir)
    if settings.broker_url:
        from ocrkit.cli.worker import safe_url

        log.info("pages go to queue workers via %s", safe_url(settings.broker_url))
    # log_config=None: uvicorn keeps the handler logs.configure installed (one format).
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    serve()
