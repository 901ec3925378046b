"""Metering (API.md "Errors and limits"): reserve at submit, charge per page, release.

Units: anonymous callers and free accounts spend pages (1 per page, any tier) from a
ledger row per subject and UTC period (day per IP, month per account); paid accounts
spend credits (``cost_cpu`` / ``cost_vlm`` per page) from ``accounts.credits``.

Atomicity needs no lock beyond the row: a reservation is one conditional UPDATE
(``... SET reserved = reserved + :n WHERE used + reserved + :n <= :cap``, or
``WHERE credits - credits_reserved >= :n``) whose rowcount says whether it fitted. Both
SQLite (writers serialised by BEGIN IMMEDIATE) and PostgreSQL (the UPDATE re-checks its
WHERE on the row's latest version after waiting for a concurrent writer) can therefore
never over-commit. Every function here runs inside the caller's write transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from ocrkit.settings import Settings
from ocrkit.store.engine import insert_ignore
from ocrkit.store.models import accounts, reservations, usage
from ocrkit.store.records import Caller, PaymentRequired


def period_of(caller: Caller, now: datetime) -> str:
    """The ledger period: the UTC day for anonymous callers, the UTC month for accounts."""
    return now.strftime("%Y-%m") if caller.account else now.strftime("%Y-%m-%d")


def period_end(period: str) -> datetime:
    if len(period) == 7:
        year, month = map(int, period.split("-"))
        return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    day = datetime.strptime(period, "%Y-%m-%d").replace(tzinfo=UTC)
    return day.fromordinal(day.toordinal() + 1).replace(tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def subject_of(caller: Caller) -> str:
    return f"account:{caller.account.id}" if caller.account else f"ip:{caller.ip}"


def unit_of(caller: Caller) -> str:
    return "credits" if caller.plan == "paid" else "pages"


def page_cost(unit: str, tier: str, settings: Settings) -> int:
    if unit == "pages":
        return 1
    return settings.cost_vlm if tier == "vlm" else settings.cost_cpu


def page_cap(caller: Caller, settings: Settings) -> int:
    return settings.free_monthly_pages if caller.account else settings.anon_daily_pages


def max_file_pages(caller: Caller, settings: Settings) -> int:
    return {
        "anonymous": settings.anon_max_file_pages,
        "free": settings.free_max_file_pages,
        "paid": settings.paid_max_file_pages,
    }[caller.plan]


def reserve(
    conn: Connection,
    settings: Settings,
    caller: Caller,
    job_uuid: str,
    pages: int,
    tier: str,
    now: datetime,
) -> None:
    """Hold the whole file's cost, or raise PaymentRequired (the transaction rolls back).

    A second reservation for the same job is a no-op (a re-submitted job holds once).
    """
    if pages < 0:
        raise ValueError("pages must be >= 0")
    unit = unit_of(caller)
    per_page = page_cost(unit, tier, settings)
    need = pages * per_page
    subject, period = subject_of(caller), period_of(caller, now)
    row = {
        "job_uuid": job_uuid,
        "subject": subject,
        "period": period,
        "unit": unit,
        "account_id": caller.account.id if caller.account else None,
        "per_page": per_page,
        "reserved": need,
        "charged": 0,
        "created_at": now,
    }
    if not insert_ignore(conn, reservations, row, ["job_uuid"]):
        return
    _ensure_ledger(conn, subject, period)
    if unit == "credits":
        assert caller.account is not None
        a = accounts.c
        fitted = conn.execute(
            update(accounts)
            .where(a.id == caller.account.id, a.credits - a.credits_reserved >= need)
            .values(credits_reserved=a.credits_reserved + need)
        ).rowcount
    else:
        u = usage.c
        fitted = conn.execute(
            update(usage)
            .where(u.subject == subject, u.period == period)
            .where(u.used + u.reserved + need <= page_cap(caller, settings))
            .values(reserved=u.reserved + need)
        ).rowcount
    if fitted != 1:
        raise _refusal(conn, settings, caller, need, tier, now)


def charge_page(conn: Connection, settings: Settings, job_uuid: str, tier: str | None) -> int:
    """Charge one saved page to the job's reservation; returns the amount (0: unmetered).

    The caller guarantees once-per-page (it inserted the page row in this transaction).
    The charge is taken from the held amount first; a page costing more than is still
    held (more pages than announced, or a dearer tier) is charged anyway.
    """
    res = _locked_reservation(conn, job_uuid)
    if res is None:
        return 0
    cost = res.per_page if tier is None else page_cost(res.unit, tier, settings)
    take = min(cost, res.reserved)
    conn.execute(
        update(reservations)
        .where(reservations.c.job_uuid == job_uuid)
        .values(reserved=reservations.c.reserved - take, charged=reservations.c.charged + cost)
    )
    u = usage.c
    ledger = update(usage).where(u.subject == res.subject, u.period == res.period)
    if res.unit == "credits":
        a = accounts.c
        conn.execute(
            update(accounts)
            .where(a.id == res.account_id)
            .values(credits=a.credits - cost, credits_reserved=a.credits_reserved - take)
        )
        conn.execute(ledger.values(used=u.used + cost))  # credits spent this month
    else:
        conn.execute(ledger.values(used=u.used + cost, reserved=u.reserved - take))
    return cost


def release(conn: Connection, job_uuid: str, now: datetime) -> int:
    """Give back whatever the job still holds; returns the amount released."""
    res = _locked_reservation(conn, job_uuid)
    if res is None or res.released_at is not None:
        return 0
    held = res.reserved
    conn.execute(
        update(reservations)
        .where(reservations.c.job_uuid == job_uuid)
        .values(reserved=0, released_at=now)
    )
    if held:
        if res.unit == "credits":
            a = accounts.c
            conn.execute(
                update(accounts)
                .where(a.id == res.account_id)
                .values(credits_reserved=a.credits_reserved - held)
            )
        else:
            u = usage.c
            conn.execute(
                update(usage)
                .where(u.subject == res.subject, u.period == res.period)
                .values(reserved=u.reserved - held)
            )
    return held


def usage_of(conn: Connection, settings: Settings, caller: Caller, now: datetime) -> dict[str, Any]:
    subject, period = subject_of(caller), period_of(caller, now)
    u = conn.execute(
        select(usage.c.used, usage.c.reserved).where(
            usage.c.subject == subject, usage.c.period == period
        )
    ).first()
    used, reserved = (u.used, u.reserved) if u else (0, 0)
    credits: int | None = None
    if caller.account:
        acct = conn.execute(
            select(accounts.c.credits, accounts.c.credits_reserved).where(
                accounts.c.id == caller.account.id
            )
        ).one()
        credits = acct.credits
        if caller.plan == "paid":
            reserved = acct.credits_reserved
    cap = used + (credits or 0) if caller.plan == "paid" else page_cap(caller, settings)
    return {
        "plan": caller.plan,
        "used": used,
        "reserved": reserved,
        "cap": cap,
        "credits": credits,
        "unit": unit_of(caller),
        "period_end": iso(period_end(period)),
    }


def _ensure_ledger(conn: Connection, subject: str, period: str) -> None:
    values = {"subject": subject, "period": period, "used": 0, "reserved": 0}
    insert_ignore(conn, usage, values, ["subject", "period"])


def _locked_reservation(conn: Connection, job_uuid: str) -> Any:
    q = select(reservations).where(reservations.c.job_uuid == job_uuid).with_for_update()
    return conn.execute(q).first()


def _refusal(
    conn: Connection, settings: Settings, caller: Caller, need: int, tier: str, now: datetime
) -> PaymentRequired:
    info = usage_of(conn, settings, caller, now)
    held = info["used"] + info["reserved"]
    resets = info["period_end"]
    if caller.plan == "paid":
        available = (info["credits"] or 0) - info["reserved"]
        message = (
            f"Out of credits: this file needs {need} credits "
            f"({page_cost('credits', tier, settings)} per {tier} page) and {available} are "
            f"available ({info['reserved']} held by running jobs). Add credits with "
            f"'ocrkit accounts credit NAME N'."
        )
    elif caller.account:
        message = (
            f"Monthly page cap reached: {held} of {info['cap']} pages used this month "
            f"(running jobs included) and this file needs {need}. The cap resets at "
            f"{resets}; a paid plan has no monthly cap."
        )
    else:
        message = (
            f"Daily allowance reached: {held} of {info['cap']} free pages used today from "
            f"this IP address (running jobs included) and this file needs {need}. It "
            f"resets at {resets}; use an account token for more."
        )
    return PaymentRequired(message, used=held, cap=info["cap"], unit=info["unit"], needed=need)


def release_orphans(conn: Connection, cutoff: datetime, now: datetime) -> int:
    """Release holds of reservations older than ``cutoff`` whose job row never appeared
    (the server died between reserve and create_job); returns how many."""
    from ocrkit.store.models import jobs

    r = reservations.c
    orphans = conn.execute(
        select(r.job_uuid)
        .where(r.released_at.is_(None), r.created_at < cutoff)
        .where(~select(jobs.c.uuid).where(jobs.c.uuid == r.job_uuid).exists())
    ).scalars()
    released = 0
    for uuid in list(orphans):
        release(conn, uuid, now)
        released += 1
    return released
