"""Run a .tflite on one device runtime under qemu-user, in a subprocess that may crash, and compare its
outputs with the host runtime's. Timing under emulation is never measured or reported."""

from __future__ import annotations

import json
import signal as _signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from pydantic import ConfigDict, Field

from edgekit.device.env import DeviceEnv
from edgekit.manifest.device import Agreement, DeviceRunRecord
from edgekit.targets import DeviceRuntime

PROBE = Path(__file__).with_name("probe.py")
MODULE = {"tflite-runtime": "tflite_runtime", "ai-edge-litert": "ai_edge_litert"}


class DeviceRunResult(DeviceRunRecord):
    """One artifact on one device runtime. ``outputs`` stays in memory (not in the JSON)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    outputs: list[np.ndarray] | None = Field(default=None, exclude=True, repr=False)
    output_quant: list[tuple[float, int]] | None = Field(default=None, exclude=True, repr=False)


def _signal_name(code: int) -> str:
    try:
        return _signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def run_on_device(data: bytes, inputs: list[np.ndarray], env: DeviceEnv, *, cpu: str | None = None,
                  timeout: float = 600.0) -> DeviceRunResult:
    """Run ``data`` on ``env``'s runtime over ``inputs`` (one array per model input, samples first)."""
    rt: DeviceRuntime = env.runtime
    base = dict(runtime=rt.name, version=rt.version, python=rt.python, arch=env.arch, cpu=cpu)
    with tempfile.TemporaryDirectory(prefix="edgekit-device-") as tmp:
        model, xin, xout = Path(tmp, "model.tflite"), Path(tmp, "inputs.npz"), Path(tmp, "outputs.npz")
        model.write_bytes(data)
        np.savez(xin, **{f"in{i}": np.ascontiguousarray(x) for i, x in enumerate(inputs)})
        cmd = env.command(PROBE, str(model), str(xin), str(xout), "--runtime", MODULE[rt.name], cpu=cpu)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env.environ(), cwd=tmp)
        except subprocess.TimeoutExpired:
            return DeviceRunResult(**base, status="error", message=f"no result within {timeout:.0f} s under emulation")
        if proc.returncode < 0 or proc.returncode in (128 + 11, 128 + 6, 128 + 7, 128 + 4):
            sig = _signal_name(-proc.returncode if proc.returncode < 0 else proc.returncode - 128)
            return DeviceRunResult(**base, status="crashed", signal=sig,
                                   message=f"{rt.name} {rt.version} crashed with {sig} running the model")
        if proc.returncode != 0 or not xout.is_file():
            tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            return DeviceRunResult(**base, status="error", message=f"exit {proc.returncode}: {tail[:500]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(xout) as z:
            outputs = [z[f"out{i}"] for i in range(len(z.files))]
    return DeviceRunResult(**{**base, "version": info.get("version") or rt.version}, status="ran",
                           message=f"ran {info['samples']} sample(s)", outputs=outputs,
                           output_quant=[(o["scale"], o["zero_point"]) for o in info["outputs"]])


def dequantize(outputs: list[np.ndarray], quant: list[tuple[float, int]]) -> list[np.ndarray]:
    """Integer outputs with a scale -> float; others as float32."""
    res = []
    for o, (scale, zero) in zip(outputs, quant):
        o = np.asarray(o)
        res.append((o.astype(np.float32) - zero) * scale if o.dtype.kind in "iu" and scale else o.astype(np.float32))
    return res


def agreement(device: list[np.ndarray], host: list[np.ndarray], quant: list[tuple[float, int]]) -> Agreement:
    """Compare raw device outputs with raw (or float) host outputs, both dequantized with ``quant``."""
    if len(device) != len(host):
        raise ValueError(f"the device gave {len(device)} output(s), the host {len(host)}")
    d, h = dequantize(device, quant), dequantize(host, quant)
    a = np.concatenate([x.reshape(-1) for x in d]).astype(np.float64)
    b = np.concatenate([x.reshape(-1) for x in h]).astype(np.float64)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
    n = len(d[0])
    top1 = None
    if d[0].reshape(n, -1).shape[1] > 1:
        top1 = float(np.mean(d[0].reshape(n, -1).argmax(1) == h[0].reshape(n, -1).argmax(1)))
    steps = None
    if all(np.asarray(x).dtype.kind in "iu" for x in device + host):
        steps = int(max(np.abs(x.astype(np.int64) - y.astype(np.int64)).max() for x, y in zip(device, host)))
    return Agreement(samples=n, cosine=round(cosine, 6), max_abs_err=float(np.abs(a - b).max()),
                     top1_agreement=top1, max_quant_steps=steps)
