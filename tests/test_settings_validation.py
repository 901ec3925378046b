"""Settings: one source of truth, validated, with secrets kept out of repr and logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ocrkit.errors import BadOption
from ocrkit.settings import Settings, load_settings


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OCRKIT_WORKERS": "-4"}, "OCRKIT_WORKERS=-4"),
        ({"OCRKIT_WORKERS": "four"}, "OCRKIT_WORKERS='four' is not a whole number"),
        ({"OCRKIT_MAX_UPLOAD_BYTES": "-1"}, "OCRKIT_MAX_UPLOAD_BYTES=-1"),
        ({"OCRKIT_MAX_UPLOAD_BYTES": "0"}, "OCRKIT_MAX_UPLOAD_BYTES=0"),
        ({"OCRKIT_RETENTION_SECONDS": "-60"}, "OCRKIT_RETENTION_SECONDS=-60"),
        ({"OCRKIT_ANON_DAILY_PAGES": "-5"}, "OCRKIT_ANON_DAILY_PAGES=-5"),
        ({"OCRKIT_DPI": "10"}, "OCRKIT_DPI=10"),
        ({"OCRKIT_VLM_TIMEOUT": "-1"}, "OCRKIT_VLM_TIMEOUT=-1"),
        ({"OCRKIT_STORE_BUSY_TIMEOUT": "nan"}, "OCRKIT_STORE_BUSY_TIMEOUT=nan"),
        ({"OCRKIT_LOG_FORMAT": "xml"}, "OCRKIT_LOG_FORMAT"),
        ({"OCRKIT_DEFAULT_LANGUAGE": "klingon"}, "OCRKIT_DEFAULT_LANGUAGE"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], needle: str) -> None:
    with pytest.raises(BadOption) as err:
        load_settings(env=env)
    assert needle in str(err.value.message), err.value.message


def test_bad_values_in_the_config_file_and_overrides_too(tmp_path: Path) -> None:
    cfg = tmp_path / "ocrkit.toml"
    cfg.write_text("workers = -4\n")
    with pytest.raises(BadOption, match="workers=-4 in"):
        load_settings(env={"OCRKIT_CONFIG": str(cfg)})
    with pytest.raises(BadOption, match="retention_seconds"):
        load_settings(env={}, retention_seconds=-1)


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OCRKIT_WORKERS": "-4"}
    env["OCRKIT_DATA_DIR"] = str(tmp_path / "d")
    out = subprocess.run(
        [sys.executable, "-m", "ocrkit", "serve", "--get", "/api/v1/health"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "OCRKIT_WORKERS=-4" in out.stderr and "unexpected" not in out.stderr


def test_secrets_are_hidden_in_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings(
        env={
            "OCRKIT_SECRET_KEY": "sekrit-cookie-key",
            "OCRKIT_VLM_API_KEY": "sk-vlm-123",
            "OCRKIT_LLM_API_KEY": "sk-llm-456",
            "OCRKIT_DATABASE_URL": "postgresql+psycopg://bob:pw-db-789@db/ocr",
            "OCRKIT_BROKER_URL": "redis://:pw-redis-000@redis:6379/0",
        }
    )
    assert s.vlm_api_key == "sk-vlm-123"  # the value is still there for the code
    shown = repr(s) + str(s)
    for secret in ("sekrit-cookie-key", "sk-vlm-123", "sk-llm-456", "pw-db-789", "pw-redis-000"):
        assert secret not in shown
    assert "***" in shown and "vlm_api_key" in shown
    with caplog.at_level(logging.INFO):
        logging.getLogger("ocrkit.test").info("settings: %s", s)
        logging.getLogger("ocrkit.test").info("%r", s.as_dict())
    assert "sk-vlm-123" not in caplog.text and "pw-db-789" not in caplog.text


def test_default_language_from_the_config_file_is_honoured(tmp_path: Path) -> None:
    from ocrkit import settings
    from ocrkit.lang import default_languages

    cfg = tmp_path / "ocrkit.toml"
    cfg.write_text('default_language = "deu+fra"\n')
    s = load_settings(env={"OCRKIT_CONFIG": str(cfg)})
    assert s.default_language == "deu+fra"
    with settings.using(s):
        assert default_languages() == ["deu", "fra"]
    # and through a real CLI process reading the same file
    probe = "from ocrkit.lang import default_languages as d; print('+'.join(d()))"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OCRKIT_CONFIG": str(cfg)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "deu+fra", out.stderr


def test_every_setting_has_its_rule_next_to_it() -> None:
    """One table holds each field's environment name and its allowed range: the checks
    above come from it, not from a second list."""
    from dataclasses import fields

    from ocrkit.settings import ENV_NAMES, RULES

    names = {f.name for f in fields(Settings)}
    assert set(ENV_NAMES) == names
    numeric = {f.name for f in fields(Settings) if str(f.type) in ("int", "float")}
    assert numeric <= set(RULES), sorted(numeric - set(RULES))
