"""Chat over a finished job: questions answered from its text, with page citations.

>>> doc = DocumentIndex(job)                               # doctest: +SKIP
>>> ask(doc, "Who patented the typewriter?").message()     # doctest: +SKIP
{'role': 'assistant', 'content': '... (p. 1)', 'citations': [{'page': 1, ...}], ...}

:func:`ask` answers offline unless a model client is given; the server and the CLI give
one when ``OCRKIT_LLM_*`` (or the vlm settings) name a model server. A model that fails
(unreachable, errors after retries) falls back to the offline answer with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ocrkit.chat.answer import NO_ANSWER, Answer, Citation, DocumentIndex, no_answer

if TYPE_CHECKING:
    from ocrkit.llm import ModelClient
    from ocrkit.models import Job

__all__ = ["NO_ANSWER", "Answer", "Citation", "DocumentIndex", "IndexCache", "ask", "no_answer"]

log = logging.getLogger("ocrkit.chat")


def previous_question(history: Sequence[dict[str, Any]]) -> str | None:
    for turn in reversed(history):
        if turn.get("role") == "user" and turn.get("content"):
            return str(turn["content"])
    return None


def ask(
    doc: DocumentIndex,
    question: str,
    history: Sequence[dict[str, Any]] = (),
    client: ModelClient | None = None,
) -> Answer:
    """Answer ``question``; ``history`` is the conversation so far (role/content dicts,
    oldest first). Retrieval uses the question and the previous question."""
    previous = previous_question(history)
    if client is not None:
        from ocrkit.llm import ModelError

        try:
            return doc.with_model(client, question, history, previous)
        except ModelError as exc:
            log.warning("chat: the model server failed (%s); answering offline", exc.message)
            answer = doc.extractive(question, previous)
            answer.warnings.append(f"the model server failed ({exc.message}); answered offline")
            return answer
    return doc.extractive(question, previous)


class IndexCache:
    """Indexes of recently asked jobs (a done job's text does not change)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, DocumentIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job: Job) -> DocumentIndex:
        key = f"{job.uuid}:{job.finished_at}"
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        doc = DocumentIndex(job)
        with self._lock:
            self._items[key] = doc
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return doc

    def forget(self, uuid: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(uuid + ":")]:
                del self._items[key]
