"""A priority queue of jobs served by a few runner threads.

Runners take the most urgent job first (higher ``priority`` first, then first come,
first served) and run it synchronously; the engine work itself happens in the shared
page-worker process pool that the run function hands to the pipeline. Inline and
background jobs go through the same queue, so a paid account's job overtakes queued
free and anonymous ones whichever way it was submitted. Nothing here touches the event
loop except :meth:`Scheduler.wait`, which awaits a job's completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ocrkit.server")

PAID_PRIORITY = 10
FREE_PRIORITY = 0


class Scheduler:
    def __init__(self, run: Callable[[str], None], runners: int = 1) -> None:
        self._run = run
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"ocrkit-job-{i}", daemon=True)
            for i in range(max(1, runners))
        ]
        for t in self._threads:
            t.start()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def submit(self, uuid: str, priority: int) -> None:
        with self._cv:
            if uuid in self._queued or uuid in self._running:
                return
            heapq.heappush(self._heap, (-priority, next(self._seq), uuid))
            self._queued.add(uuid)
            self._cv.notify()

    def cancel(self, uuid: str) -> bool:
        """Drop a queued job; False when it is not queued (running or unknown)."""
        with self._cv:
            if uuid not in self._queued:
                return False
            self._queued.discard(uuid)
            self._heap = [e for e in self._heap if e[2] != uuid]
            heapq.heapify(self._heap)
        self._notify(uuid)
        return True

    def depth(self) -> int:
        with self._cv:
            return len(self._queued)

    def running(self) -> int:
        with self._cv:
            return len(self._running)

    def is_active(self, uuid: str) -> bool:
        with self._cv:
            return uuid in self._queued or uuid in self._running

    async def wait(self, uuid: str) -> None:
        """Return once ``uuid`` is neither queued nor running, or :meth:`answer` was
        called for it."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cv:
            if uuid not in self._queued and uuid not in self._running:
                return
            self._waiters.setdefault(uuid, []).append((loop, fut))
        await fut

    def answer(self, uuid: str) -> int:
        """Wake the requests waiting for ``uuid`` now, while its runner still works on
        it (the job is stored done; its searchable pdf is being made); how many."""
        return self._notify(uuid)

    def request_stop(self) -> None:
        """Take no more jobs (running ones see :attr:`stopping` and leave theirs pending)."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()

    def join(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` s for the runners to return."""
        for t in self._threads:
            t.join(timeout)

    def _notify(self, uuid: str) -> int:
        with self._cv:
            waiters = self._waiters.pop(uuid, [])
        for loop, fut in waiters:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits now
                loop.call_soon_threadsafe(_resolve, fut)
        return len(waiters)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                _, _, uuid = heapq.heappop(self._heap)
                self._queued.discard(uuid)
                self._running.add(uuid)
            try:
                self._run(uuid)
            except Exception:
                log.exception("job %s: runner failed", uuid)
            finally:
                with self._cv:
                    self._running.discard(uuid)
                self._notify(uuid)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
