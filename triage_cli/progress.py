"""Progress a person can read: a live bar on a terminal, a plain line every few seconds elsewhere.

On a terminal (stderr is a TTY) rich draws a bar with the rate and the time left; off one
(cron, CI, `| tee`) a plain line is written every PLAIN_INTERVAL_S seconds, never a `\\r`.
Either way the command ends with one summary line on stdout, the line a log keeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

# rich is imported when a display starts, not by every `triage` command that loads this CLI.

# Seconds between two plain lines off a terminal: often enough to see a job move in a log,
# rarely enough that a million-row backfill does not write a million lines.
PLAIN_INTERVAL_S = 5.0


def is_interactive(console: Console) -> bool:
    """Whether a live bar can be drawn (a terminal that understands cursor moves)."""
    return console.is_terminal and not console.is_dumb_terminal


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


class Tracker:
    """One task's progress: `count` items done (the rate), `completed` of `total` (the ETA)."""

    def __init__(
        self,
        label: str,
        *,
        total: float | None,
        unit: str,
        console: Console,
        interval_s: float,
        show_rate: bool = True,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.show_rate = show_rate
        self.count, self.completed, self.detail = 0, 0.0, ""
        self.started = time.monotonic()
        self._interval_s = interval_s
        self._last_line = self.started
        self._live: Progress | None = None
        self._task: TaskID | None = None
        if is_interactive(console):
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.table import Column

            self._live = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                # Our ETA, not rich's: the average pace, the same as the plain line's.
                TextColumn("{task.fields[eta]}"),
                TimeElapsedColumn(),
                # The one column that may wrap: on a narrow terminal the counts go to a second
                # line instead of every column being cut to "…".
                TextColumn("{task.fields[detail]}", table_column=Column(no_wrap=False)),
                console=console,
                # The summary line on stdout replaces the bar: no stale half-drawn line.
                transient=True,
            )
            self._task = self._live.add_task(label, total=total, rate="", eta="", detail="")

    def rate(self) -> float:
        """Items per second since the start."""
        return self.count / max(time.monotonic() - self.started, 1e-6)

    def eta_s(self) -> float | None:
        """Seconds left at the average pace so far; None without a total or any progress."""
        if not self.total or self.completed <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return max(elapsed * (self.total - self.completed) / self.completed, 0.0)

    def update(
        self,
        *,
        count: int | None = None,
        advance: int = 0,
        completed: float | None = None,
        total: float | None = None,
        detail: str | None = None,
    ) -> None:
        """Record progress; `completed` defaults to `count` (same unit for rate and ETA)."""
        self.count = (self.count if count is None else count) + advance
        self.completed = float(self.count if completed is None else completed)
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        if self._live is not None and self._task is not None:
            self._live.update(
                self._task,
                completed=self.completed,
                total=self.total,
                rate=self._rate_text(),
                eta=f"ETA {self._eta_text()}" if self.total else "",
                detail=self.detail,
            )
            return
        now = time.monotonic()
        if now - self._last_line >= self._interval_s:
            self._last_line = now
            click.echo(self.plain_line(), err=True)

    def plain_line(self) -> str:
        """The line written off a terminal: counts, rate, share done, time left."""
        parts = [f"{self.label}: {self.count:,} {self.unit}"]
        if self.detail:
            parts.append(self.detail)
        if self.show_rate:
            parts.append(self._rate_text())
        if self.total:
            parts.append(f"{min(self.completed / self.total, 1.0):.0%}")
        if self.eta_s() is not None:
            parts.append(f"ETA {self._eta_text()}")
        parts.append(f"elapsed {_clock(time.monotonic() - self.started)}")
        return " · ".join(parts)

    def _eta_text(self) -> str:
        eta = self.eta_s()
        return "-:--:--" if eta is None else _clock(eta)

    def _rate_text(self) -> str:
        return f"{self.rate():,.0f} {self.unit}/s" if self.show_rate else ""

    def start(self) -> None:
        """Begin drawing (terminal only)."""
        if self._live is not None:
            self._live.start()

    def stop(self) -> None:
        """Stop drawing and clear the bar."""
        if self._live is not None:
            self._live.stop()


@contextmanager
def tracking(
    label: str,
    *,
    total: float | None = None,
    unit: str = "rows",
    console: Console | None = None,
    interval_s: float | None = None,
    show_rate: bool = True,
) -> Iterator[Tracker]:
    """Show a task's progress while the block runs; the bar is gone when it ends."""
    from rich.console import Console

    tracker = Tracker(
        label,
        total=total,
        unit=unit,
        console=console or Console(stderr=True),
        interval_s=PLAIN_INTERVAL_S if interval_s is None else interval_s,
        show_rate=show_rate,
    )
    tracker.start()
    try:
        yield tracker
    finally:
        tracker.stop()


def summary(line: str) -> None:
    """The one line a run ends with, on stdout (what a cron log or a script keeps)."""
    click.echo(line)
