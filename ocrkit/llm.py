"""The one client for OpenAI-compatible model servers (vLLM, Ollama, llama.cpp, SGLang,
cloud endpoints).

The vlm engine, the translate tool and chat's model answers all go through
:class:`ModelClient`: ``POST {base_url}/chat/completions`` with httpx, images as
``data:`` URLs in ``image_url`` content parts. ``base_url`` is the API root including
``/v1`` (``http://127.0.0.1:11434/v1`` for Ollama).

- Timeouts: ``timeout`` seconds for the whole request (connect 10 s at most).
- Retries: up to ``retries`` more attempts on connection errors, timeouts, HTTP 429 and
  5xx, with exponential backoff (``backoff`` * 2**attempt seconds, capped at 30 s;
  ``Retry-After`` on 429/503 is honoured up to the same cap).
- Concurrency: at most ``max_concurrency`` requests in flight per server and model in
  this process (a shared semaphore), whatever the number of clients.
- ``logprobs=True`` asks for token log-probabilities; a server that rejects the field
  with 400 is asked again without it (``Completion.logprobs`` is then ``None``).

Anything that still fails raises :class:`ModelError` with a message naming the server.
"""

from __future__ import annotations

import base64
import contextlib
import io
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ocrkit.errors import ExitCode, OcrkitError

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.settings import Settings


class ModelError(OcrkitError):
    """The model server is unreachable, timed out, or kept answering with an error."""

    exit_code = ExitCode.engine
    http_status = 502


@dataclass(frozen=True)
class ModelConfig:
    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 120.0
    max_concurrency: int = 4
    retries: int = 2
    max_tokens: int = 4096
    # First retry waits this long; each next one twice as long.
    backoff: float = 0.5

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def models_url(self) -> str:
        return self.base_url.rstrip("/") + "/models"


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    logprobs: list[float] | None
    raw: dict[str, Any]


def vlm_config(settings: Settings) -> ModelConfig | None:
    """The vision model server (``OCRKIT_VLM_*``), or ``None`` when not configured."""
    if not settings.vlm_base_url or not settings.vlm_model:
        return None
    return ModelConfig(
        base_url=settings.vlm_base_url,
        model=settings.vlm_model,
        api_key=settings.vlm_api_key,
        timeout=settings.vlm_timeout,
        max_concurrency=settings.vlm_max_concurrency,
        retries=settings.vlm_retries,
        max_tokens=settings.vlm_max_tokens,
    )


def llm_config(settings: Settings) -> ModelConfig | None:
    """The text model (``OCRKIT_LLM_*``; each one unset, empty, 0 or, for retries,
    negative takes the ``OCRKIT_VLM_*`` value), or ``None`` when no server and model
    are named either way."""
    s = settings
    base_url = s.llm_base_url or s.vlm_base_url
    model = s.llm_model or s.vlm_model
    if not base_url or not model:
        return None
    return ModelConfig(
        base_url=base_url,
        model=model,
        api_key=s.llm_api_key or s.vlm_api_key,
        timeout=s.llm_timeout or s.vlm_timeout,
        max_concurrency=s.llm_max_concurrency or s.vlm_max_concurrency,
        retries=s.llm_retries if s.llm_retries >= 0 else s.vlm_retries,
        max_tokens=s.llm_max_tokens or s.vlm_max_tokens,
    )


NOT_CONFIGURED_VLM = (
    "no vision model server is configured: set OCRKIT_VLM_BASE_URL (an OpenAI-compatible "
    "API root such as http://127.0.0.1:11434/v1) and OCRKIT_VLM_MODEL"
)
NOT_CONFIGURED_LLM = (
    "no text model is configured: set OCRKIT_LLM_BASE_URL and OCRKIT_LLM_MODEL "
    "(or OCRKIT_VLM_BASE_URL and OCRKIT_VLM_MODEL, which they default to)"
)


def image_part(image: Image.Image | bytes, *, max_side: int | None = None) -> dict[str, Any]:
    """An ``image_url`` content part holding ``image`` as a base64 ``data:`` URL.

    A PIL image is scaled so its longest side is at most ``max_side`` and sent as JPEG
    (quality 90) when in colour, else as PNG (greyscale and bilevel scans stay lossless).
    Bytes are sent as they are (PNG or JPEG, sniffed)."""
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
        mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    else:
        img = image
        if max_side and max(img.size) > max_side:
            scale = max_side / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img = img.resize(size)
        buf = io.BytesIO()
        if img.mode in ("RGB", "CMYK", "YCbCr"):  # photos and colour scans: JPEG is 3-5x smaller
            img.convert("RGB").save(buf, format="JPEG", quality=90)
            mime = "image/jpeg"
        else:
            if img.mode not in ("1", "L", "LA", "RGB", "RGBA", "P"):
                img = img.convert("RGB")
            img.save(buf, format="PNG", compress_level=3)
            mime = "image/png"
        data = buf.getvalue()
    url = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}


_SEMAPHORES: dict[tuple[str, str, int], threading.BoundedSemaphore] = {}
_SEM_LOCK = threading.Lock()


def _semaphore(cfg: ModelConfig) -> threading.BoundedSemaphore:
    # The limit is part of the key: a server reached again at the same URL with another
    # max_concurrency (a reused port in tests, changed settings) must not get the old one.
    key = (cfg.base_url, cfg.model, cfg.max_concurrency)
    with _SEM_LOCK:
        sem = _SEMAPHORES.get(key)
        if sem is None:
            sem = _SEMAPHORES[key] = threading.BoundedSemaphore(max(1, cfg.max_concurrency))
        return sem


_RETRY_STATUSES = {429, 500, 502, 503, 504}
_MAX_WAIT = 30.0


class ModelClient:
    """A synchronous client for one model server and model (thread-safe)."""

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg = cfg
        headers = {"Content-Type": "application/json"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        timeout = httpx.Timeout(cfg.timeout, connect=min(10.0, cfg.timeout))
        self._http = httpx.Client(headers=headers, timeout=timeout)
        self._sem = _semaphore(cfg)

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ requests

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        logprobs: bool = False,
    ) -> Completion:
        """One chat completion; ``messages`` in the OpenAI format (content may be a list
        of ``text`` and ``image_url`` parts, see :func:`image_part`)."""
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens or self.cfg.max_tokens,
            "stream": False,
        }
        if logprobs:
            body["logprobs"] = True
        try:
            data = self._post(body)
        except _Rejected as e:
            if not logprobs or e.status != 400:
                raise ModelError(e.message) from None
            body.pop("logprobs")
            try:
                data = self._post(body)
            except _Rejected as e2:
                raise ModelError(e2.message) from None
        return _parse(data, self.cfg)

    def list_models(self, timeout: float = 2.0) -> list[str]:
        """Model ids from ``GET /models`` (one attempt, short timeout): the reachability
        check behind ``ocrkit engines``."""
        try:
            r = self._http.get(self.cfg.models_url, timeout=timeout)
        except httpx.HTTPError as e:
            raise ModelError(f"model server {self.cfg.base_url} unreachable: {_why(e)}") from None
        if r.status_code >= 400:
            raise ModelError(
                f"model server {self.cfg.base_url}: GET /models answered HTTP {r.status_code}"
            )
        try:
            return [str(m.get("id")) for m in r.json().get("data") or []]
        except (ValueError, AttributeError):
            raise ModelError(
                f"model server {self.cfg.base_url}: /models is not OpenAI-style JSON"
            ) from None

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        last = ""
        for attempt in range(cfg.retries + 1):
            wait = cfg.backoff * (2**attempt)
            try:
                with self._sem:
                    r = self._http.post(cfg.chat_url, json=body)
            except httpx.TimeoutException:
                last = f"no answer within {cfg.timeout:g} s"
            except httpx.HTTPError as e:
                last = f"unreachable: {_why(e)}"
            else:
                if r.status_code < 400:
                    try:
                        data = r.json()
                    except ValueError:
                        raise ModelError(f"model server {cfg.base_url} answered non-JSON") from None
                    if not isinstance(data, dict):
                        raise ModelError(f"model server {cfg.base_url} answered unexpected JSON")
                    return data
                detail = _error_detail(r)
                last = f"HTTP {r.status_code}{': ' + detail if detail else ''}"
                if r.status_code not in _RETRY_STATUSES:
                    raise _Rejected(
                        r.status_code, f"model server {cfg.base_url} rejected the request: {last}"
                    )
                retry_after = r.headers.get("retry-after")
                if retry_after:
                    with contextlib.suppress(ValueError):
                        wait = max(wait, float(retry_after))
            if attempt < cfg.retries:
                time.sleep(min(wait, _MAX_WAIT))
        tries = cfg.retries + 1
        raise ModelError(
            f"model server {cfg.base_url} failed after {tries} attempt{'s' * (tries > 1)}: {last}"
        )


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _why(e: Exception) -> str:
    return str(e) or type(e).__name__


def _error_detail(r: httpx.Response) -> str:
    try:
        data = r.json()
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            return str(err.get("message", ""))[:300]
        if err:
            return str(err)[:300]
        return str(data.get("detail", ""))[:300] if isinstance(data, dict) else ""
    except ValueError:
        return r.text[:300]


def _parse(data: dict[str, Any], cfg: ModelConfig) -> Completion:
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content")
        if isinstance(text, list):  # some servers answer with content parts
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
        text = text or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ModelError(
            f"model server {cfg.base_url} answered without choices[0].message"
        ) from None
    lp: list[float] | None = None
    raw_lp = choice.get("logprobs")
    if isinstance(raw_lp, dict):
        content = raw_lp.get("content")
        if isinstance(content, list) and content:
            lp = [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
        elif isinstance(raw_lp.get("token_logprobs"), list):  # legacy completions shape
            lp = [float(x) for x in raw_lp["token_logprobs"] if x is not None]
        lp = lp or None
    return Completion(
        text=str(text), finish_reason=choice.get("finish_reason"), logprobs=lp, raw=data
    )
