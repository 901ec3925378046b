"""``ocrkit worker``: a Celery worker that runs page tasks with the installed plugins.

It reads the same settings as ``ocrkit serve`` (``OCRKIT_BROKER_URL``,
``OCRKIT_DATABASE_URL``, ``OCRKIT_DATA_DIR``...). Its processes are forked from one that
has already loaded the plugins and the page pipeline, and each runs Tesseract with
``OMP_THREAD_LIMIT=1`` (one process per core is the fastest use of a machine).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from ocrkit.cli.options import store_options
from ocrkit.errors import OcrkitError


class ServiceUnavailable(OcrkitError):
    """The broker or the store does not answer."""

    http_status = 503


@click.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=None,
    help="Page processes [default: OCRKIT_WORKERS, else one per core].",
)
@store_options("Where this machine caches uploads while their pages run")
@click.option(
    "--name",
    "-n",
    default=None,
    help="Worker name, unique in the cluster [default: ocrkit-<pid>@<host>].",
)
@click.option(
    "--loglevel",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def worker(
    concurrency: int | None,
    broker: str | None,
    database: str | None,
    data_dir: Path | None,
    name: str | None,
    loglevel: str,
) -> None:
    """Run a queue worker: take page tasks from the broker (paid accounts' first), read
    the pages and store them in the shared store. Needs OCRKIT_BROKER_URL."""
    from ocrkit.settings import load_settings

    os.environ["OMP_THREAD_LIMIT"] = "1"
    settings = load_settings(broker_url=broker, database_url=database, data_dir=data_dir)
    if not settings.broker_url:
        from ocrkit.errors import BadOption

        raise BadOption(
            "ocrkit worker needs a broker: --broker redis://HOST:6379/0 or OCRKIT_BROKER_URL"
        )
    # The pool processes build their settings from the environment: hand the options on.
    for var, value in (
        ("OCRKIT_BROKER_URL", settings.broker_url),
        ("OCRKIT_DATABASE_URL", settings.database_url),
        ("OCRKIT_DATA_DIR", str(settings.data_dir)),
    ):
        if value:
            os.environ[var] = value
    _check_services(settings)
    # Load the pipeline and plugins once; the pool processes fork from this one.
    import ocrkit.pipeline.pages  # noqa: F401  (the pipeline)
    import ocrkit.pipeline.preload  # noqa: F401  (PyMuPDF, Pillow, language model)
    from ocrkit.jobs.queue.celery_app import make_celery, queue_names
    from ocrkit.plugins import get_registry

    get_registry()
    import logging

    logging.getLogger("ocrkit.queue").setLevel(loglevel.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = make_celery(settings)
    n = concurrency or settings.workers or os.cpu_count() or 1
    paid, free = queue_names(settings)
    hostname = name or f"ocrkit-{os.getpid()}@{socket.gethostname()}"
    click.echo(f"ocrkit: worker {hostname}: {n} process(es) on queues {paid}, {free}", err=True)
    app.worker_main(
        [
            "worker",
            f"--concurrency={n}",
            f"--queues={paid},{free}",
            f"--loglevel={loglevel.upper()}",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _check_services(settings: object) -> None:
    """Fail now, with a message, when the store or the broker does not answer."""
    import redis

    from ocrkit.jobs.queue.tasks import CACHE_DIR, UploadCache
    from ocrkit.settings import Settings
    from ocrkit.store.cluster import ClusterStore

    assert isinstance(settings, Settings)
    try:
        store = ClusterStore.open(settings)  # also brings the schema up to date
    except Exception as exc:
        raise ServiceUnavailable(
            f"the store does not answer at {safe_url(settings.sqlalchemy_url)}: {exc}"
        ) from None
    try:
        # Uploads cached by a worker that died here: keep those of running jobs only.
        UploadCache(settings.data_dir / CACHE_DIR, store).prune()
    finally:
        store.close()
    try:
        client = redis.Redis.from_url(
            settings.broker_url, socket_timeout=5, socket_connect_timeout=5
        )
        client.ping()
        client.close()
    except Exception as exc:
        raise ServiceUnavailable(
            f"the broker does not answer at {safe_url(settings.broker_url)}: {exc}"
        ) from None


def safe_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
