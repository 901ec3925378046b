"""What the store hands out: plain dataclasses (no ORM objects leak) and PaymentRequired."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocrkit.errors import ExitCode, OcrkitError
from ocrkit.models import Job

PLANS = ("free", "paid")


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    plan: str
    credits: int
    created_at: datetime


@dataclass(frozen=True)
class Caller:
    """Who asks: an account (from a token) or nobody, and the client IP either way."""

    account: Account | None
    ip: str

    @property
    def plan(self) -> str:
        return self.account.plan if self.account else "anonymous"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass
class StoredJob:
    job: Job
    account_id: int | None
    client_ip: str | None
    priority: int
    upload_path: str | None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


class PaymentRequired(OcrkitError):
    """Out of pages or credits (HTTP 402). ``used`` counts what running jobs hold too."""

    exit_code = ExitCode.limit
    http_status = 402

    def __init__(self, message: str, *, used: int, cap: int, unit: str, needed: int) -> None:
        super().__init__(message)
        self.used = used
        self.cap = cap
        self.unit = unit
        self.needed = needed

    def to_dict(self) -> dict[str, Any]:
        return {"detail": self.message, "used": self.used, "cap": self.cap, "unit": self.unit}
