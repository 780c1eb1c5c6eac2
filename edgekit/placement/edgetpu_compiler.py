"""The real Edge TPU compiler, when installed: run it (with a timeout), keep ``*_edgetpu.tflite``, parse its
log (Operator / Count / Status table, on-chip/off-chip memory, subgraphs) into the same ``Placement``
schema, and list where it disagrees with the rules' prediction. The compiler is a closed x86-64 binary;
edgekit never claims an artifact is compiled for the Edge TPU unless this real compiler produced it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from edgekit.errors import ConfigError, RuntimeUnavailableError
from edgekit.hashing import atomic_write_bytes
from edgekit.placement.models import OpPlacement, Placement, partitions_of, summarize

MAPPED = "Mapped to Edge TPU"
_ROW = re.compile(r"^([A-Z][A-Z0-9_]*|[a-z][\w-]*)\s+(\d+)\s+(\S.*?)\s*$")
_UNITS = {"B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}


class CompilerLog(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str | None = None
    rows: tuple[tuple[str, int, str], ...]  # (operator, count, status) as the compiler printed them
    on_chip_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_bytes: int | None = None
    subgraphs: int | None = None
    total_ops: int | None = None
    tpu_ops: int | None = None
    cpu_ops: int | None = None


class CompilerResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    compiled_path: str  # the *_edgetpu.tflite the real compiler wrote
    compiler: str
    log: CompilerLog
    placement: Placement
    disagreements: tuple[str, ...]


def _bytes(text: str | None) -> int | None:
    if not text:
        return None
    m = re.match(r"([\d.]+)\s*([KMG]?i?B)", text.strip(), re.I)
    return int(float(m.group(1)) * _UNITS[m.group(2).upper().replace("IB", "IB")]) if m else None


def parse_log(text: str) -> CompilerLog:
    """Parse the compiler's console output or its ``*_edgetpu.log`` operation log."""
    def field(label: str) -> str | None:
        m = re.search(rf"^{re.escape(label)}:\s*(.+)$", text, re.M)
        return m.group(1).strip() if m else None

    rows: list[tuple[str, int, str]] = []
    if "Operator" in text and "Status" in text:
        table = text[text.index("Operator"):].splitlines()[1:]
        for line in table:
            if not line.strip():
                continue
            m = _ROW.match(line.strip())
            if not m:
                if rows:
                    break
                continue
            rows.append((m.group(1), int(m.group(2)), m.group(3)))
    if not rows and field("Number of Edge TPU subgraphs") is None:
        raise ConfigError("not an Edge TPU compiler log: no 'Operator  Count  Status' table and no summary lines")
    version = re.search(r"Edge TPU Compiler version (\S+)", text)
    ints = {k: (int(v) if (v := field(k)) and v.isdigit() else None) for k in (
        "Number of Edge TPU subgraphs", "Total number of operations",
        "Number of operations that will run on Edge TPU", "Number of operations that will run on CPU")}
    tpu = ints["Number of operations that will run on Edge TPU"]
    cpu = ints["Number of operations that will run on CPU"]
    if rows and tpu is None:  # the summary omits the split when every op is mapped
        tpu = sum(c for _, c, s in rows if s == MAPPED)
        cpu = sum(c for _, c, s in rows if s != MAPPED)
    return CompilerLog(
        version=version.group(1) if version else None, rows=tuple(rows),
        on_chip_bytes=_bytes(field("On-chip memory used for caching model parameters")),
        on_chip_remaining_bytes=_bytes(field("On-chip memory remaining for caching model parameters")),
        off_chip_bytes=_bytes(field("Off-chip memory used for streaming uncached model parameters")),
        subgraphs=ints["Number of Edge TPU subgraphs"], total_ops=ints["Total number of operations"],
        tpu_ops=tpu, cpu_ops=cpu,
    )


def to_placement(log: CompilerLog, data: bytes, target: str) -> Placement:
    """Spread the compiler's per-operator counts over the model's ops (earliest ops of a type take the
    'Mapped' count first: the compiler maps a prefix), in the same schema as the prediction."""
    from edgekit.placement.graph import read_graph

    graph = read_graph(data)
    pools: dict[str, list[str]] = {}
    for op, count, status in sorted(log.rows, key=lambda r: r[2] != MAPPED):
        pools.setdefault(op, []).extend([status] * count)
    placed = []
    for o in graph.ops:
        pool = pools.get(o.op) or pools.get("CUSTOM" if o.custom else o.op) or []
        status = pool.pop(0) if pool else "not listed in the compiler log"
        placed.append(OpPlacement(index=o.index, op=o.op, version=o.version,
                                  placement="accelerator" if status == MAPPED else "cpu",
                                  reason=f"compiler: {status}"))
    acc = sum(p.placement == "accelerator" for p in placed)
    n = len(placed)
    notes = []
    if log.off_chip_bytes:
        notes.append(f"compiler: {log.off_chip_bytes / (1 << 20):.2f} MiB of parameters stream from host memory")
    parts = partitions_of(placed)
    return Placement(
        target=target, accelerator="Edge TPU", source="compiler",
        rules=f"edgetpu_compiler {log.version or '(version not printed)'}",
        accelerated_fraction=round(acc / n, 4) if n else 0.0, accelerated_ops=acc, total_ops=n,
        partitions=parts, accelerator_partitions=log.subgraphs or sum(p.placement == "accelerator" for p in parts),
        ops=tuple(placed), parameter_bytes=None, on_chip_cache_bytes=log.on_chip_bytes,
        off_chip_bytes=log.off_chip_bytes, notes=tuple(notes),
        summary_line=summarize(target, "Edge TPU", placed, "from the real edgetpu_compiler log"),
    )


def disagreements(predicted: Placement, compiled: Placement) -> tuple[str, ...]:
    """Per op type: how many the rules put on the Edge TPU vs how many the compiler mapped."""
    def counts(p: Placement) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in p.ops:
            out[o.op] = out.get(o.op, 0) + (o.placement == "accelerator")
        return out

    a, b = counts(predicted), counts(compiled)
    out = []
    for op in sorted(set(a) | set(b)):
        if a.get(op, 0) != b.get(op, 0):
            why = sorted({o.reason for o in compiled.ops if o.op == op and o.placement == "cpu"})
            out.append(f"{op}: predicted {a.get(op, 0)} on the Edge TPU, the compiler mapped {b.get(op, 0)}"
                       + (f" ({'; '.join(why)})" if why else ""))
    return tuple(out)


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run in its own process group; on timeout kill the whole group (a compiler may fork helpers)."""
    import signal

    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def find_compiler(explicit: str | Path | None = None) -> str | None:
    if explicit:
        p = Path(explicit)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise ConfigError(f"--edgetpu-compiler {explicit}: not an executable file")
        return str(p)
    return shutil.which("edgetpu_compiler")


def compile_bytes(data: bytes, name: str, predicted: Placement, *, compiler: str | Path | None = None,
                  timeout_s: float = 180.0) -> tuple[CompilerResult, bytes, str]:
    """Run the real compiler on the model ``data`` (named ``name``.tflite); returns the result, the compiled
    ``<name>_edgetpu.tflite`` bytes and the compiler's log. Nothing is written. A missing, hanging or crashing
    compiler raises an EdgekitError."""
    exe = find_compiler(compiler)
    if exe is None:
        raise RuntimeUnavailableError(
            "edgetpu_compiler is not on PATH: install it (x86-64 Debian/Ubuntu: apt package edgetpu-compiler "
            "from Coral's repository) or pass --edgetpu-compiler PATH; the placement shown is a prediction")
    with tempfile.TemporaryDirectory(prefix="edgekit-etpu-") as tmp:
        model = Path(tmp) / f"{name}.tflite"
        model.write_bytes(data)
        outdir = Path(tmp) / "out"
        outdir.mkdir()
        try:
            proc = _run([exe, "-s", "-o", str(outdir), str(model)], timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeUnavailableError(
                f"edgetpu_compiler did not finish within {timeout_s:g} s and was stopped; nothing was written. "
                "Raise the timeout or compile a smaller model") from exc
        except OSError as exc:
            raise RuntimeUnavailableError(f"edgetpu_compiler could not be started ({exc})") from exc
        text = proc.stdout + proc.stderr
        out = outdir / f"{name}_edgetpu.tflite"
        if proc.returncode != 0 or not out.is_file():
            tail = " ".join(text.split()[-40:]) or "(no output)"
            how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
            raise RuntimeUnavailableError(
                f"edgetpu_compiler {how} without writing {out.name}; nothing was written. It said: {tail}")
        compiled = out.read_bytes()
    if compiled[4:8] != b"TFL3":
        raise RuntimeUnavailableError(f"edgetpu_compiler wrote {out.name} but it is not a .tflite; nothing was kept")
    log = parse_log(text)
    placement = to_placement(log, data, predicted.target)
    res = CompilerResult(compiled_path=out.name, compiler=exe, log=log, placement=placement,
                         disagreements=disagreements(predicted, placement))
    return res, compiled, text


def compile_model(model: Path, out_dir: Path, predicted: Placement, *, compiler: str | Path | None = None,
                  timeout_s: float = 180.0) -> CompilerResult:
    """Run the real compiler on ``model``; on success write ``<stem>_edgetpu.tflite`` and its log into
    ``out_dir`` (atomically). A missing, hanging or crashing compiler raises an EdgekitError, writes nothing."""
    model = Path(model)
    res, compiled, text = compile_bytes(model.read_bytes(), model.stem, predicted, compiler=compiler,
                                        timeout_s=timeout_s)
    dest = Path(out_dir) / res.compiled_path
    atomic_write_bytes(dest.with_suffix(".log"), text.encode())
    atomic_write_bytes(dest, compiled)
    return res.model_copy(update={"compiled_path": str(dest)})
