"""``ocrkit accounts`` and ``ocrkit tokens``: CliRunner for the logic, real processes too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocrkit.cli.accounts import accounts, tokens
from ocrkit.errors import BadOption, OcrkitError
from ocrkit.settings import load_settings
from ocrkit.store import Caller, Store


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("OCRKIT_DATA_DIR", str(d))
    monkeypatch.delenv("OCRKIT_DATABASE_URL", raising=False)
    return d


def invoke(group: object, *args: str) -> tuple[int, str, str, BaseException | None]:
    result = CliRunner().invoke(group, list(args))  # type: ignore[arg-type]
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr, exc


def test_accounts_create_credit_show_list(data_dir: Path) -> None:
    code, out, _, _ = invoke(accounts, "create", "acme", "--plan", "paid")
    assert code == 0
    created = json.loads(out)
    assert (created["name"], created["plan"], created["credits"]) == ("acme", "paid", 0)
    assert json.loads(invoke(accounts, "credit", "acme", "25")[1])["credits"] == 25
    invoke(accounts, "create", "zed")
    shown = json.loads(invoke(accounts, "show", "acme")[1])
    assert shown["usage"]["unit"] == "credits" and shown["usage"]["credits"] == 25
    assert shown["usage"]["period_end"].endswith("Z")
    listed = json.loads(invoke(accounts, "list")[1])
    assert [(a["name"], a["plan"]) for a in listed] == [("acme", "paid"), ("zed", "free")]
    assert (data_dir / "ocrkit.db").is_file()


def test_accounts_errors_are_ocrkit_errors(data_dir: Path) -> None:
    invoke(accounts, "create", "acme")
    code, _, _, exc = invoke(accounts, "create", "acme")
    assert code != 0 and isinstance(exc, BadOption) and "already exists" in str(exc)
    code, _, _, exc = invoke(accounts, "show", "ghost")
    assert isinstance(exc, BadOption) and "no account named 'ghost'" in str(exc)
    code, _, _, exc = invoke(accounts, "credit", "ghost", "5")
    assert isinstance(exc, OcrkitError)
    code, _, err, _ = invoke(accounts, "create", "x", "--plan", "gold")
    assert code == 2 and "gold" in err


def test_tokens_create_list_revoke(data_dir: Path) -> None:
    invoke(accounts, "create", "acme")
    code, out, err, _ = invoke(tokens, "create", "acme")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("ok_") and "\n" not in secret
    assert "cannot be shown again" in err
    listed = json.loads(invoke(tokens, "list", "acme")[1])
    assert len(listed) == 1 and listed[0]["prefix"] == secret[:10]
    assert secret not in json.dumps(listed)
    token_id = listed[0]["id"]
    with Store.open(load_settings()) as store:
        assert store.authenticate(secret) is not None
    assert invoke(tokens, "revoke", token_id)[0] == 0
    code, _, _, exc = invoke(tokens, "revoke", token_id)
    assert isinstance(exc, BadOption) and token_id in str(exc)
    assert json.loads(invoke(tokens, "list", "acme")[1])[0]["revoked_at"] is not None
    with Store.open(load_settings()) as store:
        assert store.authenticate(secret) is None
    assert isinstance(invoke(tokens, "create", "ghost")[3], BadOption)


def _ocrkit(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OCRKIT_DATA_DIR": str(data_dir)}
    env.pop("OCRKIT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "ocrkit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_processes_through_the_ocrkit_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _ocrkit(data_dir, "accounts", "create", "acme", "--plan", "free").returncode == 0
    made = _ocrkit(data_dir, "tokens", "create", "acme")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("ok_")
    listed = _ocrkit(data_dir, "tokens", "list", "acme")
    assert secret not in listed.stdout and secret[:10] in listed.stdout
    # The token works against the same store the server opens.
    with Store.open(load_settings({"OCRKIT_DATA_DIR": str(data_dir)})) as store:
        acme = store.authenticate(secret)
        assert acme is not None and acme.name == "acme"
        assert store.usage(Caller(acme, ""))["cap"] == store.settings.free_monthly_pages
    missing = _ocrkit(data_dir, "accounts", "show", "ghost")
    assert missing.returncode == 2
    assert "no account named 'ghost'" in missing.stderr and "Traceback" not in missing.stderr
    shown = _ocrkit(data_dir, "accounts", "show", "acme")
    assert json.loads(shown.stdout)["usage"]["plan"] == "free"
