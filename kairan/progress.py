"""Progress for long CLI operations: a live bar on a terminal, plain periodic lines in a log.

rich draws nothing until the end when stderr is not a terminal (cron, systemd, CI), so an
admin tailing a log of a one-hour ingest would see no sign of life. ``LineProgress`` has the
part of rich's ``Progress`` interface the CLI uses and prints one line per task at most every
``interval`` seconds, plus one when a task completes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from rich.progress import TaskID


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    printed_at: float = 0.0
    finished: bool = False


class LineProgress:
    def __init__(self, stream: TextIO, *, interval: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._tasks: list[_Task] = []
        self._started = clock()
        self._lock = threading.Lock()  # stages may report from their own threads (the two models)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        for task in self._tasks:
            if not task.finished:
                self._print(task)

    def add_task(self, description: str, total: float | None = None, **_: Any) -> TaskID:
        with self._lock:
            self._tasks.append(_Task(description, total, printed_at=self._clock()))
            return TaskID(len(self._tasks) - 1)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        with self._lock:
            self._update(self._tasks[task_id], completed=self._tasks[task_id].completed + advance)

    def update(
        self, task_id: TaskID, *, completed: float | None = None, total: float | None = None, **_: Any
    ) -> None:
        with self._lock:
            self._update(self._tasks[task_id], completed=completed, total=total)

    def _update(self, task: _Task, *, completed: float | None = None, total: float | None = None) -> None:
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        done = task.total is not None and task.completed >= task.total
        if done and not task.finished:
            task.finished = True
            self._print(task)
        elif not done and self._clock() - task.printed_at >= self._interval:
            self._print(task)

    def _print(self, task: _Task) -> None:
        task.printed_at = self._clock()
        elapsed = task.printed_at - self._started
        if task.total:
            share = f" ({100 * task.completed / task.total:.0f}%)"
            count = f"{task.completed:,.0f}/{task.total:,.0f}"
        else:
            share, count = "", f"{task.completed:,.0f}"
        self._stream.write(f"{task.description} {count}{share} {elapsed:,.0f}s\n")
        self._stream.flush()
