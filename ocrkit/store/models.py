"""The store's tables, as SQLAlchemy Core: one schema for SQLite and PostgreSQL.

Timestamps are UTC, stored naive (portable) and read back timezone-aware. Job and page
payloads are JSON (the :mod:`ocrkit.models` dicts); the columns beside them are what
queries filter or sort on. The Alembic revisions in ``migrations/versions`` create this
schema; a test checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored as a naive UTC timestamp on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("plan", String(16), nullable=False),
    # Paid plans: the balance, and the part of it held by running jobs.
    Column("credits", BigInteger, nullable=False, server_default="0"),
    Column("credits_reserved", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("credits_reserved >= 0", name="credits_reserved_nonneg"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("prefix", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("language", String(100), nullable=False),
    Column("tool", String(64), nullable=True),
    Column("page_count", Integer, nullable=False, server_default="0"),
    Column("pages_done", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("upload_path", Text, nullable=True),
    Column("options", JSON, nullable=False),
    # Job-level fields (Job.to_dict(pages=False)); the columns above win over it.
    Column("job", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # Scale-out (0003): the queue task that claimed joining the job (exactly one does).
    Column("finisher", String(255), nullable=True),
    Index(None, "account_id", "created_at"),
    Index(None, "status"),
    Index(None, "finished_at"),
)

pages = Table(
    "pages",
    metadata,
    Column(
        "job_uuid",
        String(36),
        ForeignKey("jobs.uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("index", Integer, primary_key=True, autoincrement=False),
    Column("source", String(16), nullable=False),
    Column("page", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Scale-out (0003): the queue worker that stored the page (None: in-process).
    Column("worker", String(255), nullable=True),
    Index(None, "created_at"),
)

# Metering ledger: one row per subject ("account:<id>" or "ip:<address>") and period
# ("YYYY-MM-DD" for anonymous callers, "YYYY-MM" for accounts). Pages (or, for paid
# accounts, credits) charged, and pages held by jobs that are still running.
usage = Table(
    "usage",
    metadata,
    Column("subject", String(100), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("used", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("reserved >= 0", name="reserved_nonneg"),
)

# One row per metered job: what it holds and what it has been charged. No foreign key
# to jobs: a reservation is made before the job row exists, and outlives its deletion.
reservations = Table(
    "reservations",
    metadata,
    Column("job_uuid", String(36), primary_key=True),
    Column("subject", String(100), nullable=False),
    Column("period", String(10), nullable=False),
    # "pages" (held in usage.reserved) or "credits" (held in accounts.credits_reserved).
    Column("unit", String(8), nullable=False),
    Column("account_id", Integer, nullable=True),
    Column("per_page", Integer, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("charged", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime, nullable=True),
)

# Scale-out (0003): files that must reach every machine (the upload, page images, the
# searchable pdf) live in the shared store, never on one machine's disk.
blobs = Table(
    "blobs",
    metadata,
    Column("job_uuid", String(36), ForeignKey("jobs.uuid", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Web page sign-in (migration 0004_web_accounts): an account made by web sign-up has an
# email and an argon2 password hash; a signed-in browser holds a session whose secret
# the store keeps only as a SHA-256.
web_users = Table(
    "web_users",
    metadata,
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_signin_at", UTCDateTime, nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Chat (ocrkit.store.chat): a conversation is one account's thread about one job; its
# messages are numbered in order. Both go with the job (and with the account).
conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "job_uuid",
        String(36),
        ForeignKey("jobs.uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "job_uuid", "account_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "conversation_id",
        String(32),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Denormalised for the per-account rate limit (messages of an account per window).
    Column("account_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    # grounded, answered, mode, warnings: what the API returns beside content.
    Column("extra", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "conversation_id", "seq", unique=True),
    Index(None, "account_id", "created_at"),
)
