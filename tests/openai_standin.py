"""A stand-in OpenAI-compatible model server for tests: real HTTP, real JSON.

``StandinServer`` runs a :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 with a
random port in a thread of the test process (subprocesses reach it too)::

    with StandinServer(handler) as srv:
        settings = load_settings({"OCRKIT_VLM_BASE_URL": srv.url, "OCRKIT_VLM_MODEL": "standin"})
        ...
        srv.requests  # every chat completions JSON body received, in order

It speaks ``POST /v1/chat/completions`` (text and ``image_url`` content parts with
``data:`` URLs, optional ``logprobs``) and ``GET /v1/models``. Each request's images are
decoded with Pillow (a request with an undecodable image gets 400, as a real server
would). ``handler(req)`` decides the answer; it gets a :class:`Request` and returns a
``str`` (the answer text) or a :class:`Reply` that can misbehave: ``delay`` (slow),
``status`` (500, 429, ...), ``finish_reason="length"`` (truncated), or any text (a
repetition loop, a refusal). :class:`ByImage` keys answers on the image received, by a
perceptual hash that survives the client's scaling.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Reply:
    text: str = ""
    finish_reason: str = "stop"
    status: int = 200
    delay: float = 0.0
    # Token log-probabilities returned when the request asks for logprobs (None: omit).
    logprobs: list[float] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    body: dict[str, Any]
    images: list[Image.Image]
    text: str  # all text parts of all messages, joined by newlines
    headers: dict[str, str]
    index: int  # 0 for the first chat request this server got

    @property
    def system(self) -> str:
        return "\n".join(
            _text_of(m.get("content"))
            for m in self.body.get("messages", [])
            if m.get("role") == "system"
        )

    @property
    def user_text(self) -> str:
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return _text_of(msgs[-1].get("content")) if msgs else ""


Handler = Callable[[Request], "str | Reply"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def ahash(image: Image.Image, size: int = 16) -> int:
    """Average hash: ``size``x``size`` grey thumbnail, one bit per pixel above the mean."""
    small = image.convert("L").resize((size, size), Image.Resampling.BOX)
    px = list(small.tobytes())
    mean = sum(px) / len(px)
    bits = 0
    for v in px:
        bits = (bits << 1) | (v > mean)
    return bits


class ByImage:
    """A handler answering per image: ``ByImage([(page_image, "answer" or Reply), ...])``.

    The received image is matched to the registered one with the nearest average hash
    (at most ``max_distance`` differing bits); an unknown image gets ``default`` or, when
    there is none, HTTP 422 (so a test sees the client sent the wrong picture)."""

    def __init__(
        self,
        answers: list[tuple[Image.Image, str | Reply]],
        *,
        default: str | Reply | None = None,
        max_distance: int = 24,
    ) -> None:
        self.answers = [(ahash(img), reply) for img, reply in answers]
        self.default = default
        self.max_distance = max_distance
        self.matched: list[int] = []  # index of the matched answer per request

    def __call__(self, req: Request) -> str | Reply:
        if not req.images:
            return self.default if self.default is not None else Reply(status=422, text="no image")
        h = ahash(req.images[0])
        best, dist = min(
            ((i, bin(h ^ k).count("1")) for i, (k, _) in enumerate(self.answers)),
            key=lambda t: t[1],
            default=(-1, 10**9),
        )
        if best < 0 or dist > self.max_distance:
            if self.default is not None:
                return self.default
            return Reply(status=422, text=f"unknown image (nearest hash distance {dist})")
        self.matched.append(best)
        return self.answers[best][1]


class StandinServer:
    def __init__(self, handler: Handler | None = None, *, model: str = "standin") -> None:
        self.handler: Handler = handler or (lambda req: "ok")
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.model_list_calls = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> StandinServer:
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    server.model_list_calls += 1
                    self._send(
                        200, {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    )
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw)
                    images, texts = _decode(body)
                except (ValueError, KeyError, TypeError, OSError) as e:
                    self._send(400, {"error": {"message": f"bad request: {e}"}})
                    return
                with server._lock:
                    server.requests.append(body)
                    index = len(server.requests) - 1
                req = Request(body, images, "\n".join(texts), dict(self.headers), index)
                reply = server.handler(req)
                if isinstance(reply, str):
                    reply = Reply(text=reply)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._send(
                        reply.status,
                        {"error": {"message": reply.text or "stand-in error"}},
                        reply.headers,
                    )
                    return
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
                if body.get("logprobs") and reply.logprobs is not None:
                    choice["logprobs"] = {
                        "content": [
                            {"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                            for i, lp in enumerate(reply.logprobs)
                        ]
                    }
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{index}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", server.model),
                        "choices": [choice],
                        "usage": {
                            "prompt_tokens": len(raw) // 4,
                            "completion_tokens": len(reply.text) // 4,
                            "total_tokens": (len(raw) + len(reply.text)) // 4,
                        },
                    },
                    reply.headers,
                )

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def images(self) -> list[Image.Image]:
        """The images of every request received, decoded again."""
        return [img for body in self.requests for img in _decode(body)[0]]


def _decode(body: dict[str, Any]) -> tuple[list[Image.Image], list[str]]:
    if not isinstance(body.get("messages"), list) or not body.get("model"):
        raise ValueError("messages (a list) and model are required")
    images: list[Image.Image] = []
    texts: list[str] = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content:
            if part["type"] == "text":
                texts.append(part["text"])
            elif part["type"] == "image_url":
                url = part["image_url"]["url"]
                head, _, b64 = url.partition(",")
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    raise ValueError(f"image_url is not a base64 data: URL ({head[:40]!r})")
                img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
                img.load()
                images.append(img)
            else:
                raise ValueError(f"unknown content part type {part['type']!r}")
    return images, texts


def main() -> None:
    """``python tests/openai_standin.py ANSWER``: serve ANSWER to every request until
    interrupted (prints the base URL), for trying ocrkit by hand."""
    import sys

    answer = " ".join(sys.argv[1:]) or "Hello from the stand-in."
    with StandinServer(lambda req: answer) as srv:
        print(srv.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
