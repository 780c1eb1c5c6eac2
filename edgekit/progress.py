"""One progress protocol for every long step: ``progress(stage, done, total)``.

A stage without a count reports ``(stage, 0, 1)`` when it starts. Callers (the CLI's status line or bar,
the build's event log) decide how to show it."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def quiet(stage: str, done: int, total: int) -> None:
    """The default: report nothing."""
