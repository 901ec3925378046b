"""The chat routes (mounted by :mod:`ocrkit.server.app` beside the job routes)::

    POST /api/v1/chat/<uuid>/           {"message": "...", "conversation": "optional id"}
    GET  /api/v1/chat/<uuid>/history/   ?conversation=id (optional)

Order of checks: an account token (anonymous or invalid: 401), the job (unknown or
another account's: 404), the body (400), the job's state (not done or failed: 409), the
conversation (unknown: 400), the per-account rate limit (429 with ``Retry-After`` and
``retry_after``), the balance when chat is metered (402).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ocrkit.server.apidoc import STR_LIST, UUID, J, error, json_response, operation, ref
from ocrkit.server.context import UNAUTHORIZED, both, get_caller, load_job, state

if TYPE_CHECKING:
    from ocrkit.chat import IndexCache
    from ocrkit.store import Account

run = anyio.to_thread.run_sync
log = logging.getLogger("ocrkit.chat")

MAX_MESSAGE_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024

_cache: IndexCache | None = None


# The bodies of the chat routes, for the OpenAPI document.
SCHEMAS: dict[str, Any] = {
    "Citation": {
        "type": "object",
        "required": ["page", "snippet"],
        "properties": {
            "page": {"type": "integer", "description": "1-based"},
            "snippet": {
                "type": "string",
                "description": "occurs in that page's text (whitespace-normalised)",
            },
        },
    },
    "ChatMessage": {
        "type": "object",
        "required": ["role", "content", "citations"],
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": {"type": "string"},
            "citations": {"type": "array", "items": ref("Citation")},
            "grounded": {
                "type": "boolean",
                "description": "false: a model's answer none of whose citations "
                "could be found in the document",
            },
            "answered": {
                "type": "boolean",
                "description": "false: the document does not answer the question",
            },
            "mode": {"type": "string", "enum": ["extractive", "model"]},
            "warnings": STR_LIST,
            "created_at": {"type": "string"},
        },
    },
    "ChatRequest": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "minLength": 1, "maxLength": 4000},
            "conversation": {
                "type": "string",
                "description": "continue this conversation (its id from an answer)",
            },
        },
    },
    "ChatAnswer": {
        "type": "object",
        "required": ["conversation", "message"],
        "properties": {
            "conversation": {"type": "string"},
            "message": ref("ChatMessage"),
        },
    },
    "ChatHistory": {
        "type": "object",
        "required": ["job", "conversations"],
        "properties": {
            "job": {"type": "string"},
            "conversations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "messages"],
                    "properties": {
                        "id": {"type": "string"},
                        "created_at": {"type": "string"},
                        "updated_at": {"type": "string"},
                        "messages": {"type": "array", "items": ref("ChatMessage")},
                    },
                },
            },
        },
    },
}


class ChatRateLimited(HTTPException):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def _index_cache() -> IndexCache:
    global _cache
    if _cache is None:
        from ocrkit.chat import IndexCache

        _cache = IndexCache()
    return _cache


async def _account(request: Request) -> Account:
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    if caller.account is None:
        raise HTTPException(
            401, "chat needs an account API token (Authorization: Bearer ...)", UNAUTHORIZED
        )
    return caller.account


async def _body(request: Request) -> tuple[str, str | None]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(400, f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(400, 'the body must be JSON: {"message": "..."}') from None
    if not isinstance(data, dict):
        raise HTTPException(400, 'the body must be a JSON object: {"message": "..."}')
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise HTTPException(400, "'message' must be a non-empty string")
    if len(message) > MAX_MESSAGE_CHARS:
        raise HTTPException(400, f"'message' is over {MAX_MESSAGE_CHARS} characters")
    conversation = data.get("conversation")
    if conversation is not None and (not isinstance(conversation, str) or not conversation):
        raise HTTPException(400, "'conversation' must be a conversation id (a string)")
    return message.strip(), conversation


def _answer(st: Any, job: Any, question: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    from ocrkit.chat import ask
    from ocrkit.llm import ModelClient, llm_config

    doc = _index_cache().get(job)
    cfg = llm_config(st.settings)
    if cfg is None:
        return ask(doc, question, history).message()
    with ModelClient(cfg) as client:
        return ask(doc, question, history, client).message()


@operation(
    {
        "summary": "Ask a question about a done job; the answer cites its pages",
        "description": "Needs an account token. Answers come from the job's text "
        "only: offline, the best matching sentences quoted verbatim; with a model "
        "server configured, the model's answer with its citations verified. "
        "Without `conversation` a new conversation starts.",
        "parameters": [UUID],
        "requestBody": {
            "required": True,
            "content": {J: {"schema": ref("ChatRequest")}},
        },
        "responses": {
            "200": json_response(ref("ChatAnswer"), "The answer"),
            "400": error("Bad JSON, empty message or unknown conversation"),
            "401": error("No token (chat needs an account), or an invalid one"),
            "402": json_response(ref("PaymentRequired"), "Chat is metered and nothing is left"),
            "404": error("Unknown job (or another account's)"),
            "409": error("The job is not done (or failed)"),
            "429": json_response(ref("RetryLater"), "Too many chat messages (Retry-After header)"),
        },
    }
)
async def chat(request: Request) -> Response:
    from ocrkit.store.chat import ChatStore, RateLimited

    st = state(request)
    account = await _account(request)
    stored = await load_job(request, _caller_of(account, request))
    question, conversation = await _body(request)
    job = stored.job
    if job.status == "failed":
        raise HTTPException(409, f"the job failed, so there is nothing to ask about: {job.error}")
    if job.status != "done":
        raise HTTPException(409, f"the job is {job.status}; ask when it is done")
    chats = ChatStore(st.store)
    try:
        turn = await run(chats.begin_turn, account, job.uuid, conversation, question)
    except RateLimited as exc:
        raise ChatRateLimited(exc.message, exc.retry_after) from None
    try:
        message = await run(_answer, st, job, question, turn.history)
    except BaseException:
        await run(chats.abort_turn, turn)
        raise
    await run(chats.end_turn, account, turn, message)
    return JSONResponse({"conversation": turn.conversation, "message": message})


@operation(
    {
        "summary": "The caller's conversations about the job, messages in order",
        "parameters": [
            UUID,
            {
                "name": "conversation",
                "in": "query",
                "required": False,
                "description": "only this conversation",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": json_response(ref("ChatHistory"), "The conversations"),
            "401": error("No token (chat needs an account), or an invalid one"),
            "404": error("Unknown job (or another account's), or conversation"),
            "429": json_response(ref("RetryLater"), "Too many failed authentications"),
        },
    }
)
async def history(request: Request) -> Response:
    from ocrkit.store.chat import ChatStore

    st = state(request)
    account = await _account(request)
    stored = await load_job(request, _caller_of(account, request))
    conversation = request.query_params.get("conversation") or None
    convs = await run(ChatStore(st.store).history, stored.job.uuid, account.id, conversation)
    if conversation and not convs:
        raise HTTPException(404, "conversation not found")
    return JSONResponse({"job": stored.job.uuid, "conversations": convs})


def _caller_of(account: Account, request: Request) -> Any:
    from ocrkit.store import Caller

    return Caller(account=account, ip=request.client.host if request.client else "unknown")


def routes() -> list[Route]:
    """Both routes, each with and without its trailing slash (answered directly)."""
    return [
        *both("/api/v1/chat/{uuid}/", chat, ["POST"]),
        *both("/api/v1/chat/{uuid}/history/", history, ["GET"]),
    ]
