"""Progress on stderr, only when stderr is a terminal.

:class:`Progress` shows one bar per input ("scan.pdf ━━━━━━ 2/3 pages 0:00:04 left"): the
total comes from ``on_start`` once the input is opened, pages as the pipeline reports
them through ``on_page``, and the time left is rich's estimate from the pages done.
When stderr is not a terminal (a log, a pipe, a test) it does nothing at all, so
captured stderr holds only messages. ``rich`` is imported only when a bar is drawn.
"""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None
        self._pages = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("pages"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=Console(file=sys.stderr),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def start(self, name: str) -> None:
        """A new input begins."""
        self._pages = 0
        self._name = name
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(name, total=None)

    def set_total(self, pages: int) -> None:
        """``on_start`` callback: the current input has this many pages to read."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=pages)

    def page_done(self, page: object) -> None:
        """``on_page`` callback: one more page of the current input is done."""
        self._pages += 1
        if self._bar is not None and self._task is not None:
            # drawn at once, not at the bar's next timer tick: with fast pages a count
            # could otherwise never be shown (3 pages done between two ticks)
            self._bar.update(self._task, completed=self._pages, refresh=True)

    def message(self, text: str) -> None:
        """Print a message on stderr without breaking the bar."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)
