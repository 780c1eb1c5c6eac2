"""Microcontroller targets through the real TFLite Micro interpreter (``tflite-micro`` on PyPI, pre-release
builds), always in a subprocess of its own venv: it pins its own numpy, and it can abort the whole process.

``check(data, profile, inputs)`` -> ``(Mcu, outputs)``: the arena measured by TFLM's recording allocator,
verified by running with exactly that arena (and failing with clearly less), flash = model bytes, the
validation inputs run through TFLM (outputs returned for the fidelity check)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from edgekit.manifest.placement import Mcu

from edgekit.errors import RuntimeUnavailableError, TargetConstraintError
from edgekit.targets import TargetProfile

TFLM_REQUIREMENT = "tflite-micro"  # pre-release builds only: installed with --pre
LESS_FRACTION = 0.10  # "clearly less": the arena minus 10 % must fail
PROBE_ARENA = 64 << 20


def venv_dir() -> Path:
    base = Path(os.environ.get("EDGEKIT_CACHE_DIR") or Path.home() / ".cache" / "edgekit")
    return base / "tflm-venv"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_tflm(venv: Path | None = None) -> Path:
    """The TFLM venv's python, creating the venv on first use (idempotent; also run by .ci/setup)."""
    venv = venv or venv_dir()
    py = _python(venv)
    stamp = venv / ".edgekit-ok"
    if stamp.is_file() and py.is_file():
        return py
    try:
        if not py.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--pre", TFLM_REQUIREMENT], check=True,
                       capture_output=True, text=True, timeout=900)
        subprocess.run([str(py), "-c", "from tflite_micro.python.tflite_micro import runtime"], check=True,
                       capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise RuntimeUnavailableError(
            f"could not set up TFLite Micro in {venv} (pip install --pre {TFLM_REQUIREMENT}): "
            f"{' '.join(str(detail).split())[-300:]}. Check network access to PyPI, or run .ci/setup") from exc
    stamp.write_text("ok\n")
    return py


def _tflm_version(py: Path) -> str:
    r = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('tflite-micro'))"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.strip() or "unknown"


def _op_names(data: bytes) -> list[str]:
    from edgekit.placement.graph import read_graph

    return [o.op for o in read_graph(data).ops]


def _run_worker(py: Path, model: Path, req: dict, tmp: Path, timeout_s: float) -> dict:
    req_path = tmp / "request.json"
    req_path.write_text(json.dumps(req))
    worker = Path(__file__).with_name("_tflm_worker.py")
    try:
        proc = subprocess.run([str(py), str(worker), str(model), str(req_path)], capture_output=True, text=True,
                              timeout=timeout_s, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise TargetConstraintError(f"TFLite Micro did not finish within {timeout_s:g} s on this model") from exc
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0:
        sig = -proc.returncode if proc.returncode < 0 else None
        how = f"was killed by {signal.Signals(sig).name}" if sig else f"exited with {proc.returncode}"
        stage = "while preparing the model (allocating and preparing its ops)" if lines else "while loading"
        ops = sorted(set(_op_names(model.read_bytes())))
        raise TargetConstraintError(
            f"TFLite Micro {how} {stage}; it printed no message. TFLM cannot run this model on a "
            f"microcontroller as-is. Its op types: {', '.join(ops)}. Try a smaller model or other layers")
    if not lines or "ok" not in lines[-1]:
        raise TargetConstraintError(f"TFLite Micro gave no result: {' '.join(proc.stderr.split())[-300:]}")
    return lines[-1]


def check(data: bytes, profile: TargetProfile, inputs: list[np.ndarray] | None = None, *,
          timeout_s: float = 300.0) -> tuple[Mcu, list[np.ndarray]]:
    """Arena, flash and outputs of ``data`` in TFLM. ``inputs``: one array per model input, shaped
    (N, *input_shape[1:]); returns one array per model output, shaped (N, ...)."""
    if profile.ram_budget_bytes is None or profile.flash_budget_bytes is None:
        raise TargetConstraintError(f"target {profile.name!r} has no ram_budget_bytes/flash_budget_bytes: "
                                    "use a microcontroller profile (cortex-m7, cortex-m4, esp32-s3)")
    from edgekit.placement.graph import read_graph

    read_graph(data)  # a clean ModelLoadError for non-TFLite bytes
    n_out = _n_outputs(data)
    if len(data) > profile.flash_budget_bytes:
        raise TargetConstraintError(f"the model is {len(data):,} bytes; target {profile.name!r} has "
                                    f"{profile.flash_budget_bytes:,} bytes of flash")
    py = ensure_tflm()
    with tempfile.TemporaryDirectory(prefix="edgekit-tflm-") as d:
        tmp = Path(d)
        model = tmp / "model.tflite"
        model.write_bytes(data)
        paths = []
        for i, x in enumerate(inputs or []):
            p = tmp / f"in{i}.npy"
            np.save(p, np.ascontiguousarray(x))
            paths.append(str(p))
        req = {"probe_arena": PROBE_ARENA, "less_fraction": LESS_FRACTION, "inputs": paths,
               "n_outputs": n_out, "out_dir": str(tmp)}
        res = _run_worker(py, model, req, tmp, timeout_s)
        if not res["ok"]:
            if res["missing_ops"]:
                raise TargetConstraintError(
                    f"TFLite Micro has no kernel for: {', '.join(res['missing_ops'])}. Replace these layers "
                    f"for target {profile.name!r}")
            raise TargetConstraintError(f"TFLite Micro cannot load this model: {' '.join(res['stderr'].split())[-400:]}")
        outs = [np.load(tmp / f"out{j}.npy") for j in range(n_out)] if paths else []
    arena = int(res["arena"])
    if arena > profile.ram_budget_bytes:
        raise TargetConstraintError(
            f"the model needs a {arena:,}-byte TFLite Micro arena; target {profile.name!r} has "
            f"{profile.ram_budget_bytes:,} bytes of RAM (ram_budget_bytes). Use a smaller model")
    mcu = Mcu(arena_bytes=arena, arena_reported_bytes=res["reported"], arena_less_bytes=int(res["less"]),
              flash_bytes=len(data), ram_budget_bytes=profile.ram_budget_bytes,
              flash_budget_bytes=profile.flash_budget_bytes, arena_less_fails=bool(res["less_fails"]), runs_in_tflm=bool(res["verified"]),
              tflm_version=_tflm_version(py))
    return mcu, outs


def _n_outputs(data: bytes) -> int:
    import tflite

    return int(tflite.Model.GetRootAsModel(data, 0).Subgraphs(0).OutputsLength())
