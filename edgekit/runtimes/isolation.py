"""A native runtime can crash the whole process on a corrupt or hostile model file (a mutated ``.tflite``
segfaulted LiteRT's Interpreter in ``benchmarks/fuzz_long.py``). Before a file that edgekit did not make is
opened in-process, it is loaded and run once by the one-file harness in a child process: a crash there is a
clean ModelLoadError here, and edgekit stays alive."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from edgekit.errors import ModelLoadError

TIMEOUT_S = 300.0


def check_loads(model: str | Path, *, runtime: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
    """Load ``model`` (.tflite/.onnx) and run it once in a child process; ModelLoadError when that crashes.
    Errors the harness reports cleanly (exit 2) are left to the in-process call, which words them."""
    harness = Path(__file__).with_name("harness.py")
    with tempfile.TemporaryDirectory(prefix="edgekit-probe-") as tmp:
        cmd = [sys.executable, str(harness), str(model), "--runs", "1", "--warmup", "0", "--json", str(Path(tmp) / "r.json")]
        if runtime:
            cmd += ["--runtime", runtime]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ModelLoadError(f"{model}: loading and running it once took over {timeout_s:g} s; the file is "
                                 "corrupt or far larger than an edge model") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.Signals._value2member_map_ else str(-proc.returncode)
        raise ModelLoadError(
            f"{model}: the runtime crashed ({name}) loading or running this file once: it is corrupt, or not a "
            "model this runtime can read. Re-export it from its source model"
        )
