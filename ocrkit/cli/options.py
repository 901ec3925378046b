"""Click options that several commands share (``serve`` and ``worker`` read the same
store, broker and data directory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

F = Callable[..., Any]


def store_options(data_dir_help: str) -> Callable[[F], F]:
    """``--broker``, ``--database`` and ``--data-dir`` (``data_dir_help`` says what the
    command keeps there)."""

    def decorate(f: F) -> F:
        f = click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=f"{data_dir_help} [default: OCRKIT_DATA_DIR or the user data dir].",
        )(f)
        f = click.option(
            "--database",
            default=None,
            metavar="URL",
            help="Store URL, e.g. postgresql+psycopg://HOST/DB, shared by servers and workers "
            "[default: OCRKIT_DATABASE_URL, else SQLite in the data dir].",
        )(f)
        f = click.option(
            "--broker",
            default=None,
            metavar="URL",
            help="Scale-out: a Redis URL; pages go to `ocrkit worker` processes instead of "
            "in-process workers [default: OCRKIT_BROKER_URL].",
        )(f)
        return f

    return decorate
