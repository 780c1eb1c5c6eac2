"""Benchmarks. ``harness.py`` is ONE self-contained file (stdlib + numpy) that measures a .tflite/.onnx model
wherever it runs; ``bench`` runs that same code here (imported, called in-process) or copies it to a device
over ssh (:mod:`edgekit.bench.remote`). Results follow the versioned ``edgekit.bench/1`` schema and always
say where they were measured (``where``; ``where.via`` is ``local`` or the ``ssh://`` device)."""

from __future__ import annotations

from pathlib import Path

from edgekit.bench.options import (  # noqa: F401  (the public names of edgekit.bench)
    ERRORS, HARNESS_FILE, SCHEMA, BenchOptions, harness_path, harness_source, write_harness,
)
from edgekit.bench.where import machine_label, where_line  # noqa: F401
from edgekit.errors import EdgekitError, ModelLoadError
from edgekit.progress import Progress


def bench_local(model: str | Path, options: BenchOptions = BenchOptions(), progress: Progress | None = None) -> dict:
    """Measure ``model`` on this machine with the harness code itself (the same code a device runs)."""
    from edgekit.runtimes import harness
    from edgekit.runtimes.isolation import check_loads

    o = options
    if o.accelerator == "none":  # a file edgekit may not have made: a native crash must not take us down
        check_loads(model, runtime=o.runtime)
    try:
        result = harness.run(
            str(model),
            threads=o.threads,
            runs=o.runs,
            warmup=o.warmup,
            seed=o.seed,
            inputs=None if o.inputs is None else str(o.inputs),
            eval_data=None if o.eval_data is None else str(o.eval_data),
            runtime=o.runtime,
            accelerator=o.accelerator,
            require_full=o.require_full_acceleration,
            progress=progress,
        )
    except harness.HarnessError as exc:
        raise ERRORS.get(exc.kind, EdgekitError)(str(exc)) from None
    result["where"]["via"] = "local"
    return result


def bench(model: str | Path, options: BenchOptions = BenchOptions(), *, device: str | None = None, ssh=None,
          progress: Progress | None = None) -> dict:
    """Measure ``model`` here, or on ``device`` (``ssh://user@host[:port]``) with ``ssh`` (:class:`SshOptions`)."""
    if not Path(model).is_file():
        raise ModelLoadError(f"model file {model} does not exist")
    if device is None:
        return bench_local(model, options, progress)
    from edgekit.bench.remote import SshDevice, SshOptions, bench_remote

    return bench_remote(model, SshDevice.parse(device), ssh or SshOptions(), options, progress)
