"""What a benchmark is told (:class:`BenchOptions`), the one-file harness's location, and how its error
kinds map onto edgekit's errors. Shared by local and remote benchmarking (no import of either)."""

from __future__ import annotations

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
def harness_path() -> Path:
    return Path(__file__).parent.parent / "runtimes" / "harness.py"


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
