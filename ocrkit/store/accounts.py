"""Accounts and their API tokens.

A token is ``ok_`` + ``secrets.token_urlsafe(32)``, shown once. The store keeps its
SHA-256 (hex) and a short display prefix; :func:`authenticate` looks the hash up (an
index hit reveals nothing about the secret) and confirms it with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ocrkit.errors import BadOption
from ocrkit.store.models import accounts, tokens
from ocrkit.store.records import PLANS, Account, TokenInfo

TOKEN_PREFIX = "ok_"
_DISPLAY_PREFIX_LEN = 10
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _account(row: Any) -> Account:
    return Account(
        id=row.id, name=row.name, plan=row.plan, credits=row.credits, created_at=row.created_at
    )


def create_account(conn: Connection, name: str, plan: str, now: datetime) -> Account:
    if plan not in PLANS:
        raise BadOption(f"unknown plan {plan!r}: choose one of {', '.join(PLANS)}")
    if not _NAME_RE.match(name):
        raise BadOption(
            f"invalid account name {name!r}: use 1-100 letters, digits and _ . @ + - "
            "(starting with a letter or digit)"
        )
    if get_account(conn, name) is not None:
        raise BadOption(f"account {name!r} already exists")
    try:
        with conn.begin_nested():
            conn.execute(insert(accounts).values(name=name, plan=plan, created_at=now))
    except IntegrityError:
        raise BadOption(f"account {name!r} already exists") from None
    return require_account(conn, name)


def get_account(conn: Connection, name: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
    return _account(row) if row else None


def require_account(conn: Connection, name: str) -> Account:
    acct = get_account(conn, name)
    if acct is None:
        raise BadOption(f"no account named {name!r} (see 'ocrkit accounts list')")
    return acct


def list_accounts(conn: Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(select(accounts).order_by(accounts.c.name))]


def credit(conn: Connection, name: str, n: int) -> Account:
    if n <= 0:
        raise BadOption(f"credits to add must be a positive number, not {n}")
    acct = require_account(conn, name)
    conn.execute(
        update(accounts).where(accounts.c.id == acct.id).values(credits=accounts.c.credits + n)
    )
    return require_account(conn, name)


def create_token(conn: Connection, name: str, now: datetime) -> tuple[str, str]:
    acct = require_account(conn, name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = "tok_" + secrets.token_hex(6)
    conn.execute(
        insert(tokens).values(
            id=token_id,
            account_id=acct.id,
            prefix=secret[:_DISPLAY_PREFIX_LEN],
            secret_hash=hash_secret(secret),
            created_at=now,
        )
    )
    return token_id, secret


def list_tokens(conn: Connection, name: str) -> list[TokenInfo]:
    acct = require_account(conn, name)
    t = tokens.c
    rows = conn.execute(
        select(t.id, t.prefix, t.created_at, t.revoked_at)
        .where(t.account_id == acct.id)
        .order_by(t.created_at, t.id)
    )
    return [TokenInfo(r.id, r.prefix, r.created_at, r.revoked_at) for r in rows]


def revoke_token(conn: Connection, token_id: str, now: datetime) -> bool:
    """Revoke a token; False when there is no such (unrevoked) token."""
    t = tokens.c
    q = update(tokens).where(t.id == token_id, t.revoked_at.is_(None)).values(revoked_at=now)
    return conn.execute(q).rowcount == 1


def authenticate(conn: Connection, secret: str) -> Account | None:
    if not secret or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    row = conn.execute(
        select(tokens.c.secret_hash, tokens.c.revoked_at, accounts)
        .join(accounts, accounts.c.id == tokens.c.account_id)
        .where(tokens.c.secret_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    return _account(row)
