"""Web sign-in in the store: email + argon2 password per account, and browser sessions.

An account made by web sign-up is an ordinary account (plan ``free``, named by its
email) with a row in ``web_users``; its API token is an ordinary token. A session's
secret lives only in the browser's cookie; the store keeps its SHA-256, so a copy of the
database cannot be turned into a signed-in browser.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from ocrkit.errors import BadOption
from ocrkit.store import accounts as _accounts
from ocrkit.store.models import accounts, tokens, web_sessions, web_users
from ocrkit.store.records import Account

if TYPE_CHECKING:
    from ocrkit.store import Store

# Not a full RFC 5322 check (no such thing is useful): one @, a dot in the domain, no
# spaces, and characters an account name may hold (the account is named by the email).
_EMAIL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class EmailTaken(BadOption):
    http_status = 409


@dataclass(frozen=True)
class WebUser:
    account: Account
    email: str
    password_hash: str


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 100 or not _EMAIL_RE.match(email):
        raise BadOption("enter a valid email address (at most 100 characters)")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadOption(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadOption(f"the password may have at most {MAX_PASSWORD} characters")
    if password.strip().lower() in common_passwords():
        raise BadOption(
            "this password is one of the most common ones (attackers try those first): "
            "choose another, e.g. a few unrelated words"
        )


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 19,640 most common passwords (lower-cased), the list Django ships with its
    CommonPasswordValidator (made by Royce Williams; BSD-3-Clause, see
    ``ocrkit/web/data/common-passwords.LICENSE``)."""
    data = resources.files("ocrkit.web").joinpath("data", "common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class WebAccounts:
    """The web's view of the store (one transaction per method, thread-safe)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.store.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.store.engine.connect() as conn:
            conn = conn.execution_options(ocrkit_begin="DEFERRED")
            with conn.begin():
                yield conn

    def sign_up(self, email: str, password_hash: str) -> tuple[Account, str]:
        """A free account named by ``email`` with its first API token (returned once)."""
        now = self.store.clock()
        with self._write() as c:
            taken = c.execute(select(web_users.c.email).where(web_users.c.email == email))
            if taken.first() is not None or _accounts.get_account(c, email) is not None:
                raise EmailTaken("an account with this email exists; sign in instead")
            account = _accounts.create_account(c, email, "free", now)
            c.execute(
                insert(web_users).values(
                    account_id=account.id,
                    email=email,
                    password_hash=password_hash,
                    created_at=now,
                )
            )
            _, secret = _accounts.create_token(c, email, now)
        return account, secret

    def set_login(self, name: str, email: str, password_hash: str) -> Account:
        """Give the (CLI-made) account ``name`` a web sign-in, or change its email and
        password; ends the account's web sessions."""
        now = self.store.clock()
        with self._write() as c:
            account = _accounts.require_account(c, name)
            other = c.execute(
                select(web_users.c.account_id).where(
                    web_users.c.email == email, web_users.c.account_id != account.id
                )
            ).first()
            if other is not None:
                raise EmailTaken(f"another account signs in with {email}")
            values = {"email": email, "password_hash": password_hash}
            done = c.execute(
                update(web_users).where(web_users.c.account_id == account.id).values(**values)
            )
            if done.rowcount == 0:
                c.execute(insert(web_users).values(account_id=account.id, created_at=now, **values))
            c.execute(delete(web_sessions).where(web_sessions.c.account_id == account.id))
        return account

    def find(self, email: str) -> WebUser | None:
        with self._read() as c:
            row = c.execute(
                select(web_users.c.email, web_users.c.password_hash, accounts)
                .join(accounts, accounts.c.id == web_users.c.account_id)
                .where(web_users.c.email == email)
            ).first()
        if row is None:
            return None
        acct = Account(
            id=row.id, name=row.name, plan=row.plan, credits=row.credits, created_at=row.created_at
        )
        return WebUser(account=acct, email=row.email, password_hash=row.password_hash)

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Store a re-hash (argon2 parameters raised since the hash was made)."""
        with self._write() as c:
            c.execute(
                update(web_users)
                .where(web_users.c.account_id == account_id)
                .values(password_hash=password_hash)
            )

    # sessions
    def start_session(self, account_id: int, hours: int) -> str:
        """A new session; returns its secret (for the cookie). Also drops expired ones."""
        now = self.store.clock()
        secret = secrets.token_urlsafe(32)
        with self._write() as c:
            c.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            c.execute(
                insert(web_sessions).values(
                    id_hash=_hash(secret),
                    account_id=account_id,
                    created_at=now,
                    expires_at=now + timedelta(hours=hours),
                )
            )
            c.execute(
                update(web_users)
                .where(web_users.c.account_id == account_id)
                .values(last_signin_at=now)
            )
        return secret

    def session_user(self, secret: str) -> WebUser | None:
        if not secret or len(secret) > 100:
            return None
        now = self.store.clock()
        with self._read() as c:
            row = c.execute(
                select(web_users.c.email, web_users.c.password_hash, accounts)
                .select_from(web_sessions)
                .join(accounts, accounts.c.id == web_sessions.c.account_id)
                .join(web_users, web_users.c.account_id == accounts.c.id)
                .where(web_sessions.c.id_hash == _hash(secret), web_sessions.c.expires_at > now)
            ).first()
        if row is None:
            return None
        acct = Account(
            id=row.id, name=row.name, plan=row.plan, credits=row.credits, created_at=row.created_at
        )
        return WebUser(account=acct, email=row.email, password_hash=row.password_hash)

    def end_session(self, secret: str) -> None:
        with self._write() as c:
            c.execute(delete(web_sessions).where(web_sessions.c.id_hash == _hash(secret)))

    # tokens
    def rotate_token(self, account: Account) -> str:
        """Revoke every live token of the account and issue one new one (returned once)."""
        now = self.store.clock()
        with self._write() as c:
            c.execute(
                update(tokens)
                .where(tokens.c.account_id == account.id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            _, secret = _accounts.create_token(c, account.name, now)
        return secret

    def live_tokens(self, account_id: int) -> list[tuple[str, datetime]]:
        """(display prefix, created) of the account's unrevoked tokens, oldest first."""
        t = tokens.c
        with self._read() as c:
            rows = c.execute(
                select(t.prefix, t.created_at)
                .where(t.account_id == account_id, t.revoked_at.is_(None))
                .order_by(t.created_at)
            )
            return [(r.prefix, r.created_at) for r in rows]
