"""Engine creation and migrations: SQLite tuned for many threads and processes.

SQLite: WAL journal (readers never wait for the writer), foreign keys on, a busy
timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers never both
start reading and then deadlock on the upgrade to a write lock ("database is locked").
Read-only transactions (``execution_options(ocrkit_begin="DEFERRED")``) stay deferred.
PostgreSQL needs none of this; migrations there take an advisory lock instead.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, create_engine, event, text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
# Any constant: serialises concurrent migrations of one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x6F63726B


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=5,
            max_overflow=30,
            pool_timeout=60,
        )
        _tune_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; the "begin" hook below emits BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("ocrkit_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` in one transaction (serialised across processes)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; True when the row was inserted."""
    stmt = _insert_ignore_stmt(conn.dialect.name, table, tuple(keys), tuple(sorted(values)))
    return conn.execute(stmt, values).first() is not None


@functools.lru_cache(maxsize=64)
def _insert_ignore_stmt(
    dialect: str, table: Any, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    """The statement of :func:`insert_ignore`, built once per table and column set, its
    values bound at execution. Built per call with ``.values(**row)``, SQLAlchemy made
    its cache key from every value's type each time: ~0.5 ms CPU a call, three calls in
    an API job's store writes."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"ocrkit's store does not support {dialect}")
    # RETURNING, not rowcount: psycopg reports -1 as the rowcount of an INSERT.
    return (
        insert(table)
        .values({c: bindparam(c) for c in columns})
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])
    )
