"""Chat storage: conversations and their messages, the per-account rate limit, metering.

A conversation belongs to one account and one job and is deleted with either (foreign
keys ``ON DELETE CASCADE``; :func:`delete_for_job` also deletes them explicitly, so a
backend without enforced foreign keys loses nothing). A turn is two transactions:
:meth:`ChatStore.begin_turn` checks the rate limit and the balance and stores the
question; :meth:`ChatStore.end_turn` stores the answer and charges it
(``settings.chat_cost``, free by default). Counting the questions of the last minute in
the same write transaction that adds one makes the limit hold across threads and server
processes that share the database.
"""

from __future__ import annotations

import math
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from ocrkit.errors import BadOption, ExitCode, OcrkitError
from ocrkit.store import metering
from ocrkit.store.models import accounts, conversations, messages, usage
from ocrkit.store.records import Account, Caller, PaymentRequired

if TYPE_CHECKING:
    from ocrkit.settings import Settings
    from ocrkit.store import Store

RATE_WINDOW = timedelta(seconds=60)


class RateLimited(OcrkitError):
    """Too many chat messages in the window (HTTP 429 with Retry-After)."""

    exit_code = ExitCode.limit
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownConversation(BadOption):
    """The conversation id names no conversation of this account about this job."""


@dataclass
class Turn:
    conversation: str
    history: list[dict[str, Any]]  # the conversation before this question, oldest first
    question_id: int


def _message(row: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": row.role, "content": row.content}
    msg["citations"] = list(row.citations or [])
    msg.update(row.extra or {})
    msg["created_at"] = metering.iso(row.created_at)
    return msg


def _history(conn: Connection, conversation: str) -> list[dict[str, Any]]:
    q = select(messages).where(messages.c.conversation_id == conversation)
    return [_message(r) for r in conn.execute(q.order_by(messages.c.seq))]


def _check_rate(conn: Connection, settings: Settings, account_id: int, now: datetime) -> None:
    limit = settings.chat_per_minute
    if limit <= 0:
        return
    m = messages.c
    recent = (
        select(m.created_at)
        .where(m.account_id == account_id, m.role == "user", m.created_at > now - RATE_WINDOW)
        .order_by(m.created_at)
    )
    times = list(conn.execute(recent).scalars())
    if len(times) >= limit:
        oldest = times[len(times) - limit]
        wait = max(1, math.ceil((oldest + RATE_WINDOW - now).total_seconds()))
        raise RateLimited(
            f"too many chat messages: {limit} per minute per account; retry in {wait} s", wait
        )


def _check_balance(conn: Connection, settings: Settings, account: Account, now: datetime) -> None:
    cost = settings.chat_cost
    if cost <= 0:
        return
    caller = Caller(account=account, ip="")
    unit = metering.unit_of(caller)
    if unit == "credits":
        row = conn.execute(
            select(accounts.c.credits, accounts.c.credits_reserved).where(
                accounts.c.id == account.id
            )
        ).one()
        if row.credits - row.credits_reserved < cost:
            raise PaymentRequired(
                f"a chat message costs {cost} credits; the account has "
                f"{row.credits - row.credits_reserved} available",
                used=row.credits_reserved,
                cap=row.credits,
                unit=unit,
                needed=cost,
            )
        return
    subject, period = metering.subject_of(caller), metering.period_of(caller, now)
    ledger = conn.execute(
        select(usage.c.used, usage.c.reserved).where(
            usage.c.subject == subject, usage.c.period == period
        )
    ).first()
    used = (ledger.used + ledger.reserved) if ledger else 0
    cap = metering.page_cap(caller, settings)
    if used + cost > cap:
        raise PaymentRequired(
            f"a chat message costs {cost} page(s) of the monthly allowance; "
            f"{used} of {cap} are used",
            used=used,
            cap=cap,
            unit=unit,
            needed=cost,
        )


def _charge(conn: Connection, settings: Settings, account: Account, now: datetime) -> None:
    cost = settings.chat_cost
    if cost <= 0:
        return
    caller = Caller(account=account, ip="")
    subject, period = metering.subject_of(caller), metering.period_of(caller, now)
    metering._ensure_ledger(conn, subject, period)
    u = usage.c
    conn.execute(
        update(usage).where(u.subject == subject, u.period == period).values(used=u.used + cost)
    )
    if metering.unit_of(caller) == "credits":
        a = accounts.c
        conn.execute(update(accounts).where(a.id == account.id).values(credits=a.credits - cost))


def delete_for_job(conn: Connection, job_uuid: str) -> int:
    ids = select(conversations.c.id).where(conversations.c.job_uuid == job_uuid)
    conn.execute(delete(messages).where(messages.c.conversation_id.in_(ids)))
    return conn.execute(delete(conversations).where(conversations.c.job_uuid == job_uuid)).rowcount


class ChatStore:
    """Chat tables of a :class:`~ocrkit.store.Store` (same engine, same transactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings = store.settings

    def begin_turn(
        self, account: Account, job_uuid: str, conversation: str | None, question: str
    ) -> Turn:
        """Check the rate limit and balance, find or start the conversation, store the
        question. Raises RateLimited, PaymentRequired or UnknownConversation."""
        now = self.store.clock()
        with self.store._write() as conn:
            # One turn of an account at a time: the count below then holds on PostgreSQL
            # too (SQLite's BEGIN IMMEDIATE already serialises writers).
            conn.execute(select(accounts.c.id).where(accounts.c.id == account.id).with_for_update())
            _check_rate(conn, self.settings, account.id, now)
            _check_balance(conn, self.settings, account, now)
            c = conversations.c
            if conversation:
                found = conn.execute(
                    select(c.id).where(
                        c.id == conversation, c.job_uuid == job_uuid, c.account_id == account.id
                    )
                ).scalar()
                if found is None:
                    raise UnknownConversation(
                        f"no conversation {conversation!r} about this job for this account"
                    )
                history = _history(conn, conversation)
            else:
                conversation = uuidlib.uuid4().hex
                conn.execute(
                    conversations.insert().values(
                        id=conversation,
                        job_uuid=job_uuid,
                        account_id=account.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
                history = []
            qid = self._add(conn, conversation, account.id, "user", question, [], {}, now)
        return Turn(conversation, history, qid)

    def end_turn(self, account: Account, turn: Turn, message: dict[str, Any]) -> dict[str, Any]:
        """Store the assistant's message and charge the turn; returns it as stored."""
        now = self.store.clock()
        extra = {k: v for k, v in message.items() if k not in ("role", "content", "citations")}
        with self.store._write() as conn:
            self._add(
                conn,
                turn.conversation,
                account.id,
                "assistant",
                message["content"],
                message.get("citations", []),
                extra,
                now,
            )
            conn.execute(
                update(conversations)
                .where(conversations.c.id == turn.conversation)
                .values(updated_at=now)
            )
            _charge(conn, self.settings, account, now)
        return message

    def abort_turn(self, turn: Turn) -> None:
        """Forget a question that got no answer (and the conversation if it is empty)."""
        with self.store._write() as conn:
            conn.execute(delete(messages).where(messages.c.id == turn.question_id))
            if not turn.history:
                conn.execute(delete(conversations).where(conversations.c.id == turn.conversation))

    def history(
        self, job_uuid: str, account_id: int, conversation: str | None = None
    ) -> list[dict[str, Any]]:
        """The account's conversations about the job, oldest first, messages in order."""
        c = conversations.c
        q = select(conversations).where(c.job_uuid == job_uuid, c.account_id == account_id)
        if conversation:
            q = q.where(c.id == conversation)
        with self.store._read() as conn:
            rows = conn.execute(q.order_by(c.created_at, c.id)).all()
            return [
                {
                    "id": r.id,
                    "created_at": metering.iso(r.created_at),
                    "updated_at": metering.iso(r.updated_at),
                    "messages": _history(conn, r.id),
                }
                for r in rows
            ]

    def count(self, job_uuid: str | None = None) -> tuple[int, int]:
        """(conversations, messages), of one job or all."""
        with self.store._read() as conn:
            cq = select(func.count()).select_from(conversations)
            mq = select(func.count()).select_from(messages).join(conversations)
            if job_uuid:
                cq = cq.where(conversations.c.job_uuid == job_uuid)
                mq = mq.where(conversations.c.job_uuid == job_uuid)
            return conn.execute(cq).scalar_one(), conn.execute(mq).scalar_one()

    @staticmethod
    def _add(
        conn: Connection,
        conversation: str,
        account_id: int,
        role: str,
        content: str,
        citations: list[dict[str, Any]],
        extra: dict[str, Any],
        now: datetime,
    ) -> int:
        seq = conn.execute(
            select(func.coalesce(func.max(messages.c.seq), 0)).where(
                messages.c.conversation_id == conversation
            )
        ).scalar_one()
        return int(
            conn.execute(
                messages.insert()
                .values(
                    conversation_id=conversation,
                    account_id=account_id,
                    seq=seq + 1,
                    role=role,
                    content=content,
                    citations=citations,
                    extra=extra,
                    created_at=now,
                )
                .returning(messages.c.id)
            ).scalar_one()
        )
