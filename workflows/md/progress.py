"""MD progress for the runner: a rich bar on a terminal, else INFO log lines (batch jobs, pipes)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

logger = logging.getLogger(__name__)


class StepProgress:
    """MD progress: a rich bar on a terminal, else a log line every 10 % (batch jobs, pipes).

    Use as a context manager; ``update(step)`` is cheap enough to call every MD step.
    """

    def __init__(self, enabled: bool, label: str, total: int, start: int = 0) -> None:
        self.enabled, self.label, self.total, self.start = enabled, label, max(total, 1), start
        self._bar: Any = None
        self._task: Any = None
        self._advance_report(start)
        self._t0 = time.perf_counter()

    def __enter__(self) -> StepProgress:
        if self.enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"),
                TimeRemainingColumn(),
                transient=True,
            ).__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.start)
        return self

    def _advance_report(self, step: int) -> None:
        tenth = max(self.total // 10, 1)
        self._next_report = (step // tenth + 1) * tenth

    def update(self, step: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step)
        elif step >= self._next_report:
            rate = (step - self.start) / max(time.perf_counter() - self._t0, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("inf")
            done = 100 * step / self.total
            logger.info(
                "%s: step %d/%d (%.0f%%), %.1f steps/s, ~%.0f s left",
                *(self.label, step, self.total, done, rate, eta),
            )
            self._advance_report(step)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
