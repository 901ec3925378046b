"""Operator settings, read from ``OCRKIT_*`` environment variables.

One frozen dataclass, built by :func:`load_settings`; the server keeps one in its state,
the CLI builds one per command. Every field has a documented default that needs no
other service (SQLite in the data dir, in-process workers). The one source of truth
for a field is here: its type and default (the dataclass), its variable
(:data:`ENV_NAMES`) and its allowed values (:data:`RULES`, :data:`CHOICES`). A value
outside them is a :class:`~ocrkit.errors.BadOption` naming where it came from
(``OCRKIT_WORKERS=-4: must be at least 0``). Secrets never show in ``repr``/``str``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ocrkit.errors import BadOption


def _default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("ocrkit"))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    # SQLAlchemy URL; empty means sqlite:///<data_dir>/ocrkit.db
    database_url: str = ""
    broker_url: str = ""
    # Seconds a request waits for a store locked by another process before a 503.
    store_busy_timeout: float = 30.0
    # Jobs of at most this many pages answer done inline on POST.
    inline_max_pages: int = 5
    # Results (jobs, page images, conversations) are deleted after this many seconds.
    retention_seconds: int = 7 * 24 * 3600
    sweep_interval_seconds: float = 60.0
    # Metering. Anonymous: pages per IP per UTC day; free: pages per UTC month;
    # paid: credits, costing cost_cpu per cpu page and cost_vlm per vlm page.
    anon_daily_pages: int = 20
    free_monthly_pages: int = 200
    cost_cpu: int = 1
    cost_vlm: int = 5
    # Pages per file by plan (over it: 400).
    anon_max_file_pages: int = 20
    free_max_file_pages: int = 50
    paid_max_file_pages: int = 2000
    max_upload_bytes: int = 200 * 1024 * 1024
    # Page-worker processes; 0 means one per core.
    workers: int = 0
    dpi: int = 300
    default_language: str = "eng"
    trusted_proxies: tuple[str, ...] = ()
    vlm_fallback: str = "cpu"
    # Scale-out (with broker_url): the Celery queue name (paid accounts use
    # "<name>.paid", read first), and the seconds after which a page task whose worker
    # died unacknowledged is delivered again (Redis broker visibility timeout).
    queue_name: str = "ocrkit"
    queue_visibility_timeout: int = 1800
    # Chat: cost of one answered message (pages for free accounts, credits for paid
    # ones; 0 = free), and answered messages allowed per account per minute (429 after).
    chat_cost: int = 0
    chat_per_minute: int = 20
    # Web page accounts: "open" lets people sign up with email and password on the web
    # page; "closed" (default) keeps accounts CLI-made only. The secret signs session
    # cookies; empty means a random one kept in <data_dir>/web-secret (set it when several
    # servers share one database, so a session works on each).
    signup: str = "closed"
    secret_key: str = ""
    session_hours: int = 14 * 24
    # OpenAI-compatible model servers (ocrkit.llm). base_url is the API root with /v1.
    # Empty base_url or model: not configured (tier=vlm falls back per vlm_fallback).
    vlm_base_url: str = ""
    vlm_model: str = ""
    vlm_api_key: str = ""
    vlm_timeout: float = 120.0
    vlm_max_concurrency: int = 4
    vlm_retries: int = 2
    vlm_max_tokens: int = 4096
    # The text model (translate, chat answers); empty / 0 / negative retries: the VLM value.
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 0.0
    llm_max_concurrency: int = 0
    llm_retries: int = -1
    llm_max_tokens: int = 0
    # Logs of `ocrkit serve` (and its uvicorn): "plain" lines or one JSON object per line,
    # at this level (debug, info, warning, error); `serve --log-level` overrides it.
    log_format: str = "plain"
    log_level: str = "info"
    # Where the web page and the API documents point for ocrkit's source code (the
    # AGPL-3.0 of PyMuPDF asks a server to offer it); empty: this server's own /source.
    source_url: str = ""

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Settings({shown})"

    __str__ = __repr__

    def as_dict(self) -> dict[str, Any]:
        """The fields, with secrets and URL passwords replaced by ``***`` (for logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRETS and value:
                value = "***"
            elif isinstance(value, str) and "://" in value:
                value = _URL_PASSWORD.sub(r"\1***@", value)
            out[f.name] = value
        return out

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ocrkit.db'}"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"


SECRETS = frozenset({"secret_key", "vlm_api_key", "llm_api_key"})
_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")

# The environment variable of every field: OCRKIT_<FIELD>.
ENV_NAMES = {f.name: "OCRKIT_" + f.name.upper() for f in fields(Settings)}
# Inclusive (min, max) of every number; None: no bound. Why each floor: a count of
# processes, pages or bytes below it has no meaning (workers 0 = one per core).
RULES: dict[str, tuple[float | None, float | None]] = {
    "store_busy_timeout": (0, None),
    "inline_max_pages": (0, None),
    "retention_seconds": (1, None),
    "sweep_interval_seconds": (0.001, None),
    "anon_daily_pages": (0, None),
    "free_monthly_pages": (0, None),
    "cost_cpu": (0, None),
    "cost_vlm": (0, None),
    "anon_max_file_pages": (1, None),
    "free_max_file_pages": (1, None),
    "paid_max_file_pages": (1, None),
    "max_upload_bytes": (1, None),
    "workers": (0, 1024),
    "dpi": (36, 1200),
    "queue_visibility_timeout": (1, None),
    "chat_cost": (0, None),
    "chat_per_minute": (0, None),
    "session_hours": (1, None),
    "vlm_timeout": (0.001, None),
    "vlm_max_concurrency": (1, None),
    "vlm_retries": (0, None),
    "vlm_max_tokens": (1, None),
    # The llm_* numbers: 0 (retries: -1) means "the vlm value".
    "llm_timeout": (0, None),
    "llm_max_concurrency": (0, None),
    "llm_retries": (-1, None),
    "llm_max_tokens": (0, None),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "vlm_fallback": ("cpu", "off"),
    "signup": ("open", "closed"),
    "log_format": ("plain", "json"),
    "log_level": ("debug", "info", "warning", "error"),
}
# Kept for callers of the old name.
_ENV_NAMES = ENV_NAMES


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``env`` (default ``os.environ``), then keyword overrides.

    ``OCRKIT_CONFIG`` may name a TOML file whose top-level keys (or an ``[ocrkit]``
    table) are field names (``vlm_base_url = "http://..."``); environment variables win
    over the file, keyword overrides over both."""
    env = dict(os.environ if env is None else env)
    config = env.get("OCRKIT_CONFIG", "")
    kw: dict[str, Any] = _config_file(config)
    where = {name: f"{name}={value} in {config}" for name, value in kw.items()}
    for f in fields(Settings):
        name = ENV_NAMES[f.name]
        if name not in env or env[name] == "" and f.name not in ("database_url", "broker_url"):
            continue
        raw = env[name]
        kw[f.name] = _convert(f"{name}={raw!r}", f.type, raw)
        where[f.name] = f"{name}={raw}"
    for key, value in overrides.items():
        if value is not None:
            kw[key] = value
            where[key] = f"{key}={value}"
    if "data_dir" in kw:
        kw["data_dir"] = Path(kw["data_dir"]).expanduser()
    for key, value in kw.items():
        _check(key, value, where[key])
    return Settings(**kw)


def _check(name: str, value: Any, where: str) -> None:
    """Raise BadOption when ``value`` is outside the field's rule."""
    if name in RULES:
        low, high = RULES[name]
        if isinstance(value, float) and not math.isfinite(value):
            raise BadOption(f"{where}: must be a finite number")
        if low is not None and value < low:
            raise BadOption(f"{where}: must be at least {low:g}")
        if high is not None and value > high:
            raise BadOption(f"{where}: must be at most {high:g}")
    elif name in CHOICES and value not in CHOICES[name]:
        raise BadOption(f"{where}: must be one of {', '.join(CHOICES[name])}")
    elif name == "default_language":
        from ocrkit.lang.codes import resolve

        try:
            resolve(value)
        except BadOption as exc:
            raise BadOption(f"{where}: {exc.message}") from None


_CURRENT: ContextVar[Settings | None] = ContextVar("ocrkit_settings", default=None)


def current() -> Settings:
    """The settings in force: those of the enclosing :func:`using` block (a job carries
    its caller's settings into page workers this way), else :func:`load_settings`.
    Plugins whose ``availability()`` depends on settings (the vlm engine, translate)
    read them here."""
    s = _CURRENT.get()
    return s if s is not None else load_settings()


@contextmanager
def using(settings: Settings | None) -> Iterator[None]:
    """Make ``settings`` what :func:`current` returns inside the block (None: no change)."""
    if settings is None:
        yield
        return
    token = _CURRENT.set(settings)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _config_file(path: str) -> dict[str, Any]:
    if not path:
        return {}
    import tomllib

    try:
        with Path(path).expanduser().open("rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise BadOption(f"OCRKIT_CONFIG={path!r}: cannot read it ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise BadOption(f"OCRKIT_CONFIG={path!r} is not valid TOML: {e}") from None
    if isinstance(data.get("ocrkit"), dict):
        data = data["ocrkit"]
    types = {f.name: f.type for f in fields(Settings)}
    kw: dict[str, Any] = {}
    for key, value in data.items():
        if key not in types:
            raise BadOption(f"OCRKIT_CONFIG={path!r}: unknown setting {key!r}")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        kw[key] = _convert(f"{key}={value!r} in {path}", types[key], str(value))
    return kw


_KINDS = {"int": "a whole number", "float": "a number"}


def _convert(where: str, type_: Any, raw: str) -> Any:
    t = str(type_)
    try:
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
        if t == "Path":
            return Path(raw)
        if t.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
    except ValueError:
        raise BadOption(f"{where} is not {_KINDS.get(t, 'a valid ' + t)}") from None
    return raw
