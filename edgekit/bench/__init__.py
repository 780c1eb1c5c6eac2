"""Benchmarks. ``harness.py`` is ONE self-contained file (stdlib + numpy) that measures a .tflite/.onnx model
wherever it runs; ``bench`` runs that same code here (imported, called in-process) or copies it to a device
over ssh (:mod:`edgekit.bench.remote`). Results follow the versioned ``edgekit.bench/1`` schema and always
say where they were measured (``where``; ``where.via`` is ``local`` or the ``ssh://`` device)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import CalibrationError, ConfigError, EdgekitError, ModelLoadError, RuntimeUnavailableError

HARNESS_FILE = "edgekit_harness.py"
SCHEMA = "edgekit.bench/1"  # == harness.SCHEMA (pinned by a test; importing harness here would pull numpy in)
ERRORS: dict[str, type[EdgekitError]] = {
    "config": ConfigError,
    "model": ModelLoadError,
    "data": CalibrationError,
    "runtime": RuntimeUnavailableError,
}
Progress = Callable[[str, int, int], None]


def harness_path() -> Path:
    return Path(__file__).with_name("harness.py")


def harness_source() -> str:
    return harness_path().read_text()


def write_harness(directory: str | Path) -> Path:
    from edgekit.hashing import atomic_write_bytes

    path = Path(directory) / HARNESS_FILE
    atomic_write_bytes(path, harness_source().encode())
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class BenchOptions:
    """What to measure. Mirrors the harness's command-line options one to one."""

    threads: int = 1
    runs: int = 100
    warmup: int = 10
    seed: int = 0
    inputs: Path | None = None
    eval_data: Path | None = None
    runtime: str | None = None
    accelerator: str = "none"
    require_full_acceleration: bool = False

    def __post_init__(self):
        if self.threads < 1 or self.runs < 1 or self.warmup < 0:
            raise ConfigError("--threads and --runs must be at least 1, --warmup at least 0")
        for what, p in (("--inputs", self.inputs), ("--eval-data", self.eval_data)):
            if p is not None and not Path(p).is_file():
                raise CalibrationError(f"{what} {p} does not exist; pass an .npy/.npz file")

    def harness_argv(self, model: str, inputs: str | None = None, eval_data: str | None = None) -> list[str]:
        """Command-line arguments for the harness (file names as the device sees them)."""
        argv = [model, "--threads", str(self.threads), "--runs", str(self.runs), "--warmup", str(self.warmup)]
        argv += ["--seed", str(self.seed), "--accelerator", self.accelerator]
        if inputs:
            argv += ["--inputs", inputs]
        if eval_data:
            argv += ["--eval-data", eval_data]
        if self.runtime:
            argv += ["--runtime", self.runtime]
        if self.require_full_acceleration:
            argv.append("--require-full-acceleration")
        return argv


def bench_local(model: str | Path, options: BenchOptions = BenchOptions(), progress: Progress | None = None) -> dict:
    """Measure ``model`` on this machine with the harness code itself (the same code a device runs)."""
    from edgekit.bench import harness

    o = options
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


def where_line(result: dict) -> str:
    """One line saying where a result was measured, and that host latency is not a target's latency."""
    w = result["where"]
    what = f"{w.get('board') or w['cpu']}, {w['arch']}, {w['cores']} cores, host {w['hostname']!r}"
    if w.get("via", "local") == "local":
        return (
            f"measured on THIS machine ({what}). Host latency is not the latency of a Raspberry Pi or any other "
            "target: measure there with --device ssh://user@device or the harness (edgekit harness)"
        )
    return f"measured on the device {w['via']} ({what})"
