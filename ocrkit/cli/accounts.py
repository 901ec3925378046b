"""``ocrkit accounts`` and ``ocrkit tokens``: the operator's side of authentication.

Both open the store named by the settings (``OCRKIT_DATA_DIR`` or
``OCRKIT_DATABASE_URL``). Data goes to stdout as JSON (a token's secret as one bare
line, printed once); notes go to stderr. Mistakes raise :class:`OcrkitError`, which the
``ocrkit`` CLI turns into a message and an exit code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from ocrkit.errors import BadOption
from ocrkit.settings import load_settings
from ocrkit.store import Account, Caller, Store, TokenInfo
from ocrkit.store.metering import iso
from ocrkit.store.records import PLANS


@contextmanager
def _store() -> Iterator[Store]:
    store = Store.open(load_settings())
    try:
        yield store
    finally:
        store.close()


def _when(dt: datetime | None) -> str | None:
    return iso(dt) if dt else None


def _account_dict(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "plan": a.plan,
        "credits": a.credits,
        "created_at": _when(a.created_at),
    }


def _token_dict(t: TokenInfo) -> dict[str, Any]:
    return {
        "id": t.id,
        "prefix": t.prefix,
        "created_at": _when(t.created_at),
        "revoked_at": _when(t.revoked_at),
    }


def _out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group()
def accounts() -> None:
    """Manage accounts, plans and credits."""


@accounts.command("create")
@click.argument("name")
@click.option("--plan", type=click.Choice(PLANS), default="free", show_default=True)
def accounts_create(name: str, plan: str) -> None:
    """Create the account NAME."""
    with _store() as store:
        _out(_account_dict(store.create_account(name, plan)))


@accounts.command("credit")
@click.argument("name")
@click.argument("n", type=int)
def accounts_credit(name: str, n: int) -> None:
    """Add N credits to the account NAME."""
    with _store() as store:
        _out(_account_dict(store.credit(name, n)))


@accounts.command("show")
@click.argument("name")
def accounts_show(name: str) -> None:
    """Show the account NAME and its usage this period."""
    with _store() as store:
        account = _require(store, name)
        usage = store.usage(Caller(account=account, ip=""))
        _out({**_account_dict(account), "usage": usage})


@accounts.command("list")
def accounts_list() -> None:
    """List all accounts."""
    with _store() as store:
        _out([_account_dict(a) for a in store.list_accounts()])


@accounts.command("web-login")
@click.argument("name")
@click.option("--email", required=True, help="The email the person signs in with.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
def accounts_web_login(name: str, email: str, password_stdin: bool) -> None:
    """Let the account NAME sign in on the web page with EMAIL and a password (also when
    OCRKIT_SIGNUP is closed); run again to change them. Ends its web sessions."""
    import sys

    from ocrkit.web.accounts import WebAccounts, check_password, normalise_email
    from ocrkit.web.security import hash_password

    address = normalise_email(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    check_password(password)
    with _store() as store:
        account = WebAccounts(store).set_login(name, address, hash_password(password))
    click.echo(f"{account.name} signs in on the web as {address}", err=True)


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create a token for the account NAME; the secret is printed once, on stdout."""
    with _store() as store:
        token_id, secret = store.create_token(name)
    click.echo(f"token {token_id} for {name}: store it now, it cannot be shown again", err=True)
    click.echo(secret)


@tokens.command("list")
@click.argument("name")
def tokens_list(name: str) -> None:
    """List the tokens of the account NAME (ids and prefixes, never the secret)."""
    with _store() as store:
        _out([_token_dict(t) for t in store.list_tokens(name)])


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke the token TOKEN_ID (as shown by 'ocrkit tokens list')."""
    with _store() as store:
        if not store.revoke_token(token_id):
            raise BadOption(f"no active token with id {token_id!r} (see 'ocrkit tokens list NAME')")
    click.echo(f"revoked {token_id}", err=True)


def _require(store: Store, name: str) -> Account:
    account = store.get_account(name)
    if account is None:
        raise BadOption(f"no account named {name!r} (see 'ocrkit accounts list')")
    return account
