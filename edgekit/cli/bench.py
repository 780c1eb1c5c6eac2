"""The ``edgekit bench`` and ``edgekit harness`` commands (registered in :data:`edgekit.registry.COMMANDS`). Thin: parse, call edgekit.bench, print. Nothing heavy at import time."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.common import console

Device = Annotated[Optional[str], typer.Option("--device", help="Run on a device over ssh: ssh://user@host[:port] (host may be an ~/.ssh/config alias).")]
Identity = Annotated[Optional[Path], typer.Option("--identity", "-i", help="ssh private key for --device.")]
KnownHosts = Annotated[Optional[Path], typer.Option("--known-hosts", help="known_hosts file to verify the device's host key against (default: ssh's own).")]
AcceptNew = Annotated[bool, typer.Option("--accept-new-host-key", help="Trust a device's host key on first connection (a CHANGED key is still refused). Off by default: host keys are verified.")]
RemotePython = Annotated[str, typer.Option("--remote-python", help="Python on the device, e.g. /home/pi/venv/bin/python.")]
Threads = Annotated[Optional[int], typer.Option(help="Runtime threads (default: the target profile's; capped at this machine's cores when measured here).")]
Runs = Annotated[int, typer.Option(help="Timed runs.")]
Warmup = Annotated[int, typer.Option(help="Untimed warm-up runs after the first inference.")]


def ssh_options(identity, known_hosts, accept_new, remote_python, timeout=None):
    from edgekit.bench.remote import SshOptions

    return SshOptions(identity=identity, known_hosts=known_hosts, accept_new_host_key=accept_new,
                      remote_python=remote_python, timeout=timeout)


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and raise it once the block is done: the code in
    the block never sees a KeyboardInterrupt half-way. Main thread only (where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got:
            if callable(old):
                old(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
            else:
                raise KeyboardInterrupt


class Bar:
    """A rich progress bar fed by ``(stage, done, total)`` callbacks; prints each new stage as a line.

    One task, made once and reset for each stage: a Ctrl-C (KeyboardInterrupt) can land between any two
    statements of a callback, and the remote bench catches it and keeps calling the bar (fetch the partial
    result). Removing the old task and adding a new one left a removed task id behind when it landed between
    the two, and the next stage removed it again (KeyError in rich). Resetting one task has no such window."""

    def __init__(self, prefix: str = ""):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=console(stderr=True), transient=True)
        self.task = self.progress.add_task("", total=None, visible=False)
        self.prefix, self.stage, self.shown = prefix, None, -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        with _sigint_deferred():  # a Ctrl-C inside rich (holding its lock) could deadlock its refresh thread
            self._show(stage, done, total)

    def _show(self, stage: str, done: int, total: int) -> None:
        label = f"{self.prefix}{stage}"
        if label != self.stage:
            self.stage, self.shown = label, -1
            self.progress.console.print(f"[dim]{label} ({total})…[/]")
            self.progress.reset(self.task, total=total, description=label, visible=True)
        if done == total or done - self.shown >= max(1, total // 500):  # cheap: called between timed runs
            self.shown = done
            self.progress.update(self.task, completed=done)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()


def print_bench(r: dict) -> None:
    from rich.table import Table

    from edgekit.bench import where_line

    con = console()
    rt = r["runtime"]
    title = f"{Path(r['model']['path']).name}: {rt['name']} {rt['version']}, {r['threads']} thread(s)"
    if rt.get("accelerator"):
        title += f", accelerator {rt['accelerator']['requested']} (fully accelerated: {rt['accelerator']['fully_accelerated']})"
    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    lat = r["latency_ms"] or {}
    rss = r.get("peak_rss_bytes")
    t.add_row("latency ms p50 / p90 / p99", " / ".join(f"{lat[k]:.4f}" if k in lat else "-" for k in ("p50", "p90", "p99")))
    t.add_row("latency ms mean ± std", f"{lat['mean']:.4f} ± {lat['std']:.4f}" if lat else "-")
    t.add_row("latency ms min / max", f"{lat['min']:.4f} / {lat['max']:.4f}" if lat else "-")
    t.add_row("timed runs (warm-up)", f"{r['runs']} of {r['runs_requested']} ({r['warmup']})")
    t.add_row("init / first inference ms", f"{r['init_ms']:.2f} / {r['first_inference_ms']:.3f}")
    t.add_row("peak RSS", "-" if rss is None else f"{rss / 2**20:.0f} MiB")
    con.print(t)
    if r.get("accuracy"):
        a = r["accuracy"]
        con.print(f"top-1 accuracy {a['top1']:.2%} on {a['samples']} samples of {a['data']} (with {rt['name']} {rt['version']})")
    con.print(f"model sha256 {r['model']['sha256']}, {r['model']['bytes']:,} bytes")
    con.print(f"[bold yellow]{where_line(r)}[/]")
    if r["interrupted"]:
        con.print(f"[bold red]INTERRUPTED[/] after {r['runs']} of {r['runs_requested']} timed runs: partial result")


def bench(
    model: Annotated[Path, typer.Argument(help="A .tflite or .onnx file.")],
    threads: Annotated[int, typer.Option(help="Runtime threads.")] = 1,
    runs: Runs = 100,
    warmup: Warmup = 10,
    seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
    inputs: Annotated[Optional[Path], typer.Option(help="Input batch from an .npy/.npz (default: seeded random).")] = None,
    eval_data: Annotated[Optional[Path], typer.Option(help=".npz with x, y: top-1 accuracy with the runtime that is timed.")] = None,
    runtime: Annotated[Optional[str], typer.Option(help="Force ai_edge_litert | tflite_runtime | tensorflow | onnxruntime.")] = None,
    accelerator: Annotated[str, typer.Option(help="none (classic interpreter) | cpu | gpu (LiteRT 2.x CompiledModel).")] = "none",
    require_full_acceleration: Annotated[bool, typer.Option(help="With --accelerator gpu: fail unless every op runs on the GPU.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the edgekit.bench/1 result JSON here.")] = None,
    device: Device = None,
    identity: Identity = None,
    known_hosts: KnownHosts = None,
    accept_new_host_key: AcceptNew = False,
    remote_python: RemotePython = "python3",
    timeout: Annotated[Optional[float], typer.Option(help="With --device: stop the benchmark after this many seconds.")] = None,
) -> None:
    """Measure latency (and optionally accuracy) of a .tflite/.onnx model here or on a device over ssh."""
    from edgekit.bench import BenchOptions
    from edgekit.bench import bench as run_bench
    opts = BenchOptions(threads=threads, runs=runs, warmup=warmup, seed=seed, inputs=inputs, eval_data=eval_data,
                        runtime=runtime, accelerator=accelerator, require_full_acceleration=require_full_acceleration)
    ssh = ssh_options(identity, known_hosts, accept_new_host_key, remote_python, timeout)
    try:
        with Bar(prefix=f"{device}: " if device else "") as bar:
            result = run_bench(model, opts, device=device, ssh=ssh, progress=bar)
    except KeyboardInterrupt:
        console(stderr=True).print("[bold red]interrupted[/] before any timed run: no result")
        raise typer.Exit(130) from None
    print_bench(result)  # first: a result that cannot be written is still shown
    if json_out is not None:
        _write_result(json_out, result)
        console().print(f"wrote {json_out}")
    if result["interrupted"]:
        raise typer.Exit(130)


def _write_result(path: Path, result: dict) -> None:
    """Write the result JSON atomically; an unwritable ``--json`` path is bad input (exit 2), one message."""
    from edgekit.errors import ConfigError
    from edgekit.hashing import atomic_write_json

    if path.is_dir():
        raise ConfigError(f"--json {path}: is a folder; pass a file path such as {path / 'bench.json'} "
                          "(the result is printed above)")
    try:
        atomic_write_json(path, result)
    except OSError as exc:
        raise ConfigError(f"--json {path}: cannot write the result ({exc.strerror or exc}); pass a writable "
                          "file path (the result is printed above)") from None


def harness(
    write: Annotated[Optional[Path], typer.Option("--write", help="Write the harness into this folder (as edgekit_harness.py) instead of printing it.")] = None,
) -> None:
    """Print the one-file device harness (stdlib + numpy; Python 3.9+), to copy to a device and run there."""
    from edgekit.bench import harness_source, write_harness

    if write is None:
        sys.stdout.write(harness_source())
        return
    from edgekit.errors import ConfigError

    if write.exists() and not write.is_dir():
        raise ConfigError(f"--write {write}: is a file; pass a folder (the harness is written there as edgekit_harness.py)")
    try:
        path = write_harness(write)
    except OSError as exc:
        raise ConfigError(f"--write {write}: cannot write the harness there ({exc.strerror or exc}); pass a writable folder") from None
    console(stderr=True).print(f"wrote {path}; on the device: python3 {path.name} model.tflite --threads 4 --json result.json")
