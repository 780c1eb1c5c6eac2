"""The public Python API: a thin façade. Every function delegates; nothing below this module imports it.

    from edgekit import api
    from edgekit.options import ConvertOptions
    result = api.convert("model.keras", "rpi", ConvertOptions(calibration="calib.npz"), "out")
    result.manifest.artifacts[0].validation.cosine
"""

from __future__ import annotations

from pathlib import Path

from edgekit.engine import ConvertResult
from edgekit.options import ConvertOptions
from edgekit.progress import Progress, quiet
from edgekit.targets import TargetProfile

__all__ = ["ConvertOptions", "ConvertResult", "bench", "build", "convert", "merge", "report", "sweep"]


def convert(model: str | Path, target: str | Path | TargetProfile = "rpi", options: ConvertOptions | None = None,
            output_dir: str | Path = "out", *, source=None, progress: Progress = quiet,
            overwrite: bool = False) -> ConvertResult:
    """Convert one model for one target; see :func:`edgekit.engine.convert`."""
    from edgekit.engine import convert as run

    return run(model, target, options, output_dir, source=source, progress=progress, overwrite=overwrite)


def build(
    config: str | Path,
    *,
    output_dir: str | Path = "build",
    shard: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    force: bool = False,
):
    """Build every (model, target, variant) cell of a build config (edgekit.yaml) into ``output_dir``:
    ``cells/<cell-id>/`` + ``index.json``, reusing unchanged cells. Returns a BuildResult (``.index``,
    ``.failed``). See :mod:`edgekit.workflows.build`."""
    from edgekit.workflows.build.runner import build as run_build

    return run_build(config, output_dir, shard=shard, cache_dir=cache_dir, force=force)


def merge(shard_dirs: list[str | Path], *, output_dir: str | Path = "build") -> dict:
    """Merge the folders of ``build(shard=(k, n))`` runs into one build folder; returns its index."""
    from edgekit.workflows.build.merge import merge as run_merge

    return run_merge(shard_dirs, output_dir)


def report(
    build_dir: str | Path,
    *,
    baseline: str | Path | None = None,
    bench: list[str | Path] | None = None,
    formats: list[str] | None = None,
    output_dir: str | Path | None = None,
    save_baseline: str | Path | None = None,
) -> dict:
    """Check a build folder against its thresholds and ``baseline``; with ``output_dir`` write ``formats``
    (default: all of edgekit.report.REPORT_FORMATS). Returns the report dict (``["passed"]``, ``["failures"]``)."""
    from edgekit.registry import REPORT_FORMATS
    from edgekit.report import make_report, write_report
    from edgekit.report.checks import save_baseline as write_baseline

    rep = make_report(build_dir, baseline=baseline, bench=bench)
    if output_dir is not None:
        write_report(rep, list(formats or REPORT_FORMATS.names()), output_dir)
    if save_baseline is not None:
        write_baseline(rep["rows"], save_baseline)
    return rep


def bench(model_path: str | Path, *, device: str | None = None, ssh=None, progress=None, **options) -> dict:
    """Benchmark a .tflite/.onnx artifact here, or on ``device`` (``ssh://user@host[:port]``; ``ssh`` is an
    :class:`edgekit.bench.remote.SshOptions`). ``options`` are :class:`edgekit.bench.BenchOptions` fields
    (threads, runs, warmup, seed, inputs, eval_data, runtime, accelerator). Returns the ``edgekit.bench/1``
    dict; ``["where"]`` says where it was measured."""
    from edgekit.bench import BenchOptions
    from edgekit.bench import bench as _bench

    return _bench(model_path, BenchOptions(**options), device=device, ssh=ssh, progress=progress)


def sweep(model_path: str | Path, **kwargs):
    """Build, validate and benchmark every variant a target allows; see :func:`edgekit.workflows.sweep.sweep`."""
    from edgekit.workflows.sweep import sweep as _sweep

    return _sweep(model_path, **kwargs)
