"""The CLI's progress bar for bench/sweep (edgekit/cli/bench.py)."""

from __future__ import annotations

import sys

import pytest

from edgekit.cli.bench import Bar as _Bar


def _lines(code) -> list[int]:
    return sorted({line for _, _, line in code.co_lines() if line and line > code.co_firstlineno})


@pytest.mark.parametrize("at", _lines(_Bar._show.__code__))
def test_progress_bar_survives_ctrl_c_at_every_line(at):
    """Issue 9's race: a Ctrl-C (KeyboardInterrupt) can land on any line of a progress callback; the remote
    bench catches it and goes on calling the bar (stage "fetch"). Raise it deterministically on each line of
    ``_Bar.__call__`` in turn (a trace function raising on that line) and check the bar still works after."""
    code, fired = _Bar._show.__code__, []

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == at and not fired:
            fired.append(at)
            raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    with _Bar(prefix="dev: ") as bar:
        bar("load", 0, 1)
        bar("load", 1, 1)
        sys.settrace(tracer)
        try:
            bar("timing", 0, 100)
            bar("timing", 50, 100)
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        bar("fetch", 0, 1)  # what bench_remote does after catching the Ctrl-C
        bar("fetch", 1, 1)
        tasks = bar.progress.tasks
    assert fired == [at]
    assert len(tasks) == 1 and tasks[0].description == "dev: fetch" and tasks[0].completed == 1


def test_a_real_ctrl_c_inside_the_callback_is_raised_after_it():
    """A real SIGINT delivered while the bar updates rich: held until the update is done, then raised."""
    import os
    import signal

    done = []

    class Probe(_Bar):
        def _show(self, *args):
            if not done:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands here, mid-update
            for _ in range(1000):  # bytecode boundaries where Python would run the handler
                pass
            super()._show(*args)
            done.append(True)

    with Probe() as bar:
        with pytest.raises(KeyboardInterrupt):
            bar("timing", 0, 10)
        assert done == [True]  # the update finished before the KeyboardInterrupt
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        bar("fetch", 1, 1)
    assert done == [True, True] and bar.progress.tasks[0].description == "fetch"
