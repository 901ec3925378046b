"""``ocrkit serve``: run the API with uvicorn, or answer one request with ``--get``."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click


def _log_setup() -> None:
    """Server and access logs on stderr at INFO (the CLI keeps ``ocrkit`` at WARNING)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("ocrkit.server", "ocrkit.access"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("alembic").setLevel(logging.WARNING)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Page-worker processes [default: OCRKIT_WORKERS, else one per core].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store, page images and uploads [default: OCRKIT_DATA_DIR or the user data dir].",
)
@click.option(
    "--broker",
    default=None,
    metavar="URL",
    help="Scale-out: a Redis URL; pages go to `ocrkit worker` processes instead of "
    "in-process workers [default: OCRKIT_BROKER_URL].",
)
@click.option(
    "--database",
    default=None,
    metavar="URL",
    help="Store URL, e.g. postgresql+psycopg://HOST/DB, shared by servers and workers "
    "[default: OCRKIT_DATABASE_URL, else SQLite in the data dir].",
)
@click.option(
    "--get",
    "get_path",
    metavar="PATH",
    default=None,
    help="Answer one GET request for PATH in-process, print the body and exit "
    "(exit status 1 when the answer is an error).",
)
def serve(
    host: str,
    port: int,
    workers: int | None,
    data_dir: Path | None,
    broker: str | None,
    database: str | None,
    get_path: str | None,
) -> None:
    """Serve the OCR API (OCR.chat-compatible) on the embedded default: a SQLite store
    and in-process page workers. With --broker (and --database), the API enqueues pages
    for `ocrkit worker` processes on any machine instead."""
    from ocrkit.server.app import create_app
    from ocrkit.settings import load_settings

    settings = load_settings(
        workers=workers, data_dir=data_dir, broker_url=broker, database_url=database
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

    app = create_app(settings)
    _log_setup()
    click.echo(f"ocrkit: serving on http://{host}:{port} (data in {settings.data_dir})", err=True)
    if settings.broker_url:
        from ocrkit.server.worker import safe_url

        click.echo(
            f"ocrkit: pages go to queue workers via {safe_url(settings.broker_url)}", err=True
        )
    from ocrkit.server.protocol import protocol_class

    # The app applies the one proxy layer itself (OCRKIT_TRUSTED_PROXIES): uvicorn's own
    # would trust 127.0.0.1 by default. h11 with a header timeout against slow clients.
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        proxy_headers=False,
        http=protocol_class(settings.header_timeout),
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


if __name__ == "__main__":
    serve()
