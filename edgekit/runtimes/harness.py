#!/usr/bin/env python3
"""edgekit device harness: latency (and optionally accuracy) of one .tflite or .onnx model, as JSON.

ONE self-contained file: the standard library and numpy (1.x or 2.x), nothing from edgekit, Python 3.9+
syntax. Copy it to a device (``edgekit harness > edgekit_harness.py``) and run it with whatever runtime
the device has:

    python3 edgekit_harness.py model.tflite --threads 4 --runs 200 --json result.json

.tflite runs through ai_edge_litert, else tflite_runtime, else full tensorflow (``--runtime`` forces one);
``--accelerator cpu|gpu`` uses the LiteRT 2.x CompiledModel API instead of the classic interpreter. .onnx
runs through onnxruntime on the CPU. Only ``invoke`` is timed; inputs are set once before the loop.
Ctrl-C (SIGINT), SIGTERM or SIGHUP stop the loop and still write the partial result ("interrupted": true).
"""

from __future__ import annotations

import argparse
import array
import gc
import hashlib
import json
import os
import platform
import signal
import socket
import sys
import time

import numpy as np

SCHEMA = "edgekit.bench/1"
HARNESS_VERSION = "1.0.0"
TFLITE_RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")
ACCELERATORS = ("none", "cpu", "gpu")


class HarnessError(Exception):
    """A problem the user can fix; ``kind`` is one of config | model | data | runtime."""

    def __init__(self, message: str, kind: str = "config"):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------- where it ran


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    keys = ("model name", "Hardware", "cpu model", "Processor")
    found = {}
    for line in _read("/proc/cpuinfo").splitlines():
        k, _, v = line.partition(":")
        k = k.strip()
        if k in keys and v.strip() and k not in found:
            found[k] = v.strip()
    for k in keys:
        if k in found:
            return found[k]
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    os_name = platform.platform()
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"') + " (" + platform.release() + ")"
    return {
        "hostname": socket.gethostname(),
        "arch": platform.machine(),
        "cpu": _cpu_model(),
        "board": _read("/proc/device-tree/model") or None,  # e.g. "Raspberry Pi 4 Model B Rev 1.4"
        "cores": os.cpu_count(),
        "os": os_name,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _rss_now():
    statm = _read("/proc/self/statm").split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE") if len(statm) > 1 else None


def _peak_rss():
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # macOS: bytes, Linux: KiB


# ---------------------------------------------------------------- runtimes


class Tensor:
    def __init__(self, name, shape, dtype, scale=0.0, zero_point=0):
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.scale = float(scale)
        self.zero_point = int(zero_point)
        self.key = name  # the signature's name for it (a .tflite's "serving_default_x:0" is "x")

    @property
    def quantized(self) -> bool:
        return self.dtype.kind in "iu" and self.scale != 0.0

    def to_input(self, x: np.ndarray) -> np.ndarray:
        """Float data -> this tensor's dtype (quantized with its scale/zero point when it has them)."""
        x = np.asarray(x)
        if self.quantized and x.dtype.kind == "f":
            info = np.iinfo(self.dtype)
            x = np.clip(np.round(x / self.scale) + self.zero_point, info.min, info.max)
        return x.astype(self.dtype).reshape(self.shape)

    def to_float(self, q: np.ndarray) -> np.ndarray:
        if self.quantized:
            return (q.astype(np.float32) - self.zero_point) * self.scale
        return np.asarray(q, dtype=np.float32)

    quantize = to_input  # the names edgekit's runners use
    dequantize = to_float


def _model_kw(model) -> dict:
    """Interpreter arguments for a path or the model's bytes."""
    if isinstance(model, (bytes, bytearray)):
        return {"model_content": bytes(model)}
    return {"model_path": str(model)}


def _natural(name: str):
    head, _, tail = name.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (name, -1)


def _output_order(it) -> list:
    """Output tensor indices in signature order (output_0, output_1, ...), not by tensor index."""
    try:
        sigs = it._get_full_signature_list()
    except AttributeError:  # old runtimes
        sigs = {}
    if len(sigs) == 1:
        outs = next(iter(sigs.values()))["outputs"]
        return [outs[n] for n in sorted(outs, key=_natural)]
    return [d["index"] for d in it.get_output_details()]


def _signature_keys(it):
    """{tensor index: signature name} of a one-signature model's inputs and outputs."""
    try:
        sigs = it._get_full_signature_list()
    except AttributeError:  # old runtimes
        return {}
    if len(sigs) != 1:
        return {}
    sig = next(iter(sigs.values()))
    return {i: n for part in ("inputs", "outputs") for n, i in sig[part].items()}


def name_key(name: str) -> str:
    """A tensor name without the decorations converters add: "serving_default_x:0" and "x:0" are "x"."""
    head, colon, tail = name.rpartition(":")
    if colon and tail.isdigit():
        name = head
    return name[len("serving_default_"):] if name.startswith("serving_default_") else name


def match_inputs(tensors, names) -> list:
    """For each of ``tensors``, the index in ``names`` of the data it takes: by name (exact, signature
    name, or undecorated), else by position when the names say nothing."""
    names = list(names)
    found = []
    for t in tensors:
        hit = [k for k, n in enumerate(names) if n in (t.name, t.key) or name_key(n) in (name_key(t.name), name_key(t.key))]
        found.append(hit[0] if len(hit) == 1 else None)
    if None in found or len(set(found)) != len(found):
        if len(tensors) != len(names):
            raise HarnessError(f"the model's inputs {[t.key for t in tensors]} do not match the data's {names}", "data")
        return list(range(len(tensors)))
    return found


def _tflite_interpreter_class(runtime):
    names = [runtime] if runtime else list(TFLITE_RUNTIMES)
    for name in names:
        try:
            if name == "ai_edge_litert":
                import ai_edge_litert as pkg
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                import tflite_runtime as pkg
                from tflite_runtime.interpreter import Interpreter
            elif name == "tensorflow":
                import tensorflow as pkg

                Interpreter = pkg.lite.Interpreter
            else:
                raise HarnessError(f"--runtime {name!r} is unknown for .tflite; choose from {', '.join(TFLITE_RUNTIMES)}")
        except ImportError:
            continue
        return name, getattr(pkg, "__version__", "unknown"), Interpreter
    raise HarnessError(
        f"no TFLite runtime found (tried {', '.join(names)}): pip install ai-edge-litert "
        "(or tflite-runtime on older Raspberry Pi OS)",
        "runtime",
    )


class TFLiteBackend:
    """The classic interpreter (XNNPACK on the CPU by default, as benchmark_model uses it)."""

    def __init__(self, path, threads: int, runtime=None, **interpreter_kw):
        """``path``: a file or the model's bytes; ``interpreter_kw`` go to the Interpreter as they are."""
        self.name, self.version, cls = _tflite_interpreter_class(runtime)
        origin = "artifact" if isinstance(path, (bytes, bytearray)) else path
        try:
            it = cls(num_threads=threads, **_model_kw(path), **interpreter_kw)
            for d in it.get_input_details():  # dynamic dims (-1) -> 1
                sig = d.get("shape_signature", d["shape"])
                if any(int(s) < 0 for s in sig):
                    it.resize_tensor_input(d["index"], [1 if int(s) < 0 else int(s) for s in sig])
            it.allocate_tensors()
            self._in = [d["index"] for d in it.get_input_details()]
            self._out = _output_order(it)
            by_index = {d["index"]: d for d in it.get_output_details()}
            self.inputs = [_tensor(d) for d in it.get_input_details()]
            self.outputs = [_tensor(by_index[i]) for i in self._out]
            keys = _signature_keys(it)
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as exc:  # a corrupt graph fails to
            # prepare/allocate (RuntimeError), or its tensor names/indices do not read (UnicodeDecodeError, TypeError, KeyError)
            raise HarnessError(f"{origin}: {self.name} cannot load this model: {' '.join(str(exc).split())}", "model") from exc
        self._it = it
        self.accelerator = None
        for t, i in list(zip(self.inputs, self._in)) + list(zip(self.outputs, self._out)):
            t.key = keys.get(i, t.name)

    def feed(self, arrays):
        for i, a in zip(self._in, arrays):
            self._it.set_tensor(i, a)

    def invoke(self):
        try:
            self._it.invoke()
        except RuntimeError as exc:  # "Node number 4 (RESHAPE) failed to invoke": a corrupt graph, found on running
            raise HarnessError(f"{self.name} cannot run this model: {' '.join(str(exc).split())}", "model") from None

    def fetch(self):
        return [self._it.get_tensor(i) for i in self._out]


def _tensor(d: dict) -> Tensor:
    scale, zp = d.get("quantization", (0.0, 0))
    return Tensor(d["name"], d["shape"], d["dtype"], scale, zp)


class CompiledBackend:
    """LiteRT 2.x CompiledModel: ``cpu`` (XNNPACK) or ``gpu`` (GPU accelerator, CPU fallback)."""

    def __init__(self, path: str, threads: int, accelerator: str, require_full: bool):
        try:
            import ai_edge_litert
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator as HA
            from ai_edge_litert.options import CpuOptions, Options
        except ImportError as exc:
            raise HarnessError(
                f"--accelerator {accelerator} needs the LiteRT 2.x CompiledModel API (pip install 'ai-edge-litert>=2'); "
                f"it is not importable here ({exc}). Leave --accelerator out to use the classic interpreter",
                "runtime",
            ) from exc
        self.name, self.version = "ai_edge_litert", getattr(ai_edge_litert, "__version__", "unknown")
        hw = HA.CPU
        if accelerator == "gpu":
            hw = HA.GPU if require_full else HA.GPU | HA.CPU
        try:
            opts = Options(hardware_accelerators=hw, cpu_options=CpuOptions(num_threads=threads))
            cm = CompiledModel.from_file(path, options=opts)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:400]
            if accelerator == "gpu":
                raise HarnessError(
                    "LiteRT could not create its GPU accelerator for this model (most often: no usable GPU or "
                    "GPU driver here). LiteRT's GPU accelerator needs a GPU and its driver stack (on Linux WebGPU "
                    "over Vulkan: libvulkan.so.1 and a Vulkan driver; OpenCL or Metal elsewhere). Run without "
                    f"--accelerator gpu to benchmark on the CPU. LiteRT said: {detail}",
                    "runtime",
                ) from exc
            raise HarnessError(f"{path}: LiteRT CompiledModel cannot load this model: {detail}", "model") from exc
        self._cm = cm
        self._sig = next(iter(cm.get_signature_list()))
        # Quantization parameters are not in the CompiledModel details: read them from the flatbuffer's
        # tensors through the interpreter of the same package, matched by tensor name.
        from ai_edge_litert.interpreter import Interpreter

        meta = Interpreter(model_path=path)
        by_name = {d["name"]: d for d in meta.get_input_details() + meta.get_output_details()}

        def tensors(details):
            return [
                Tensor(d["name"], d["shape"], d["dtype"], *by_name.get(d["name"], {}).get("quantization", (0.0, 0)))
                for d in details.values()
            ]

        self.inputs = tensors(cm.get_input_tensor_details(self._sig))
        self.outputs = tensors(cm.get_output_tensor_details(self._sig))
        self._ib = cm.create_input_buffers(0)
        self._ob = cm.create_output_buffers(0)
        self.accelerator = {"requested": accelerator, "fully_accelerated": bool(cm.is_fully_accelerated())}
        if require_full and not self.accelerator["fully_accelerated"]:
            raise HarnessError(f"{path}: not fully accelerated on {accelerator} and --require-full-acceleration was set", "runtime")

    def feed(self, arrays):
        for b, a in zip(self._ib, arrays):
            b.write(np.ascontiguousarray(a))

    def invoke(self):
        self._cm.run_by_index(0, self._ib, self._ob)

    def fetch(self):
        return [b.read(int(np.prod(t.shape)), t.dtype).reshape(t.shape) for b, t in zip(self._ob, self.outputs)]


_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


def ort_session(model, threads: int = 1):
    """An onnxruntime CPU session (a path or the model's bytes): fixed threads, sequential, quiet."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    src = bytes(model) if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])


class OrtBackend:
    def __init__(self, path, threads: int, session=None):
        """``path``: a file or the model's bytes; ``session``: an already created InferenceSession."""
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise HarnessError("onnxruntime is not installed: pip install onnxruntime", "runtime") from exc
        self.name, self.version, self.accelerator = "onnxruntime", ort.__version__, None
        try:
            self._s = session or ort_session(path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise HarnessError(f"{path}: onnxruntime cannot load this model: {exc}", "model") from exc

        def tensors(args):
            return [
                Tensor(a.name, [d if isinstance(d, int) and d > 0 else 1 for d in a.shape], _ORT_DTYPES.get(a.type, "float32"))
                for a in args
            ]

        self.inputs = tensors(self._s.get_inputs())
        self.outputs = tensors(self._s.get_outputs())
        self._feed, self._last = {}, []

    def feed(self, arrays):
        self._feed = {t.name: a for t, a in zip(self.inputs, arrays)}

    def invoke(self):
        self._last = self._s.run(None, self._feed)

    def fetch(self):
        return self._last


def open_backend(path: str, threads: int = 1, runtime=None, accelerator: str = "none", require_full: bool = False):
    if not os.path.isfile(path):
        raise HarnessError(f"model file {path} does not exist", "model")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".onnx":
        if accelerator != "none" or runtime not in (None, "onnxruntime"):
            raise HarnessError(".onnx models run on onnxruntime's CPU provider only: drop --accelerator/--runtime")
        return OrtBackend(path, threads)
    if ext != ".tflite":
        raise HarnessError(f"{path}: expected a .tflite or .onnx file", "model")
    if accelerator not in ACCELERATORS:
        raise HarnessError(f"--accelerator {accelerator!r} is unknown; choose from {', '.join(ACCELERATORS)}")
    if accelerator != "none":
        if runtime not in (None, "ai_edge_litert"):
            raise HarnessError(f"--accelerator {accelerator} uses ai_edge_litert's CompiledModel; drop --runtime {runtime}")
        return CompiledBackend(path, threads, accelerator, require_full)
    return TFLiteBackend(path, threads, runtime)


# ---------------------------------------------------------------- inputs, statistics, accuracy


def random_inputs(tensors, seed: int = 0):
    """Seeded random inputs of each tensor's dtype: floats in [0, 1), integers over the dtype's range."""
    rng = np.random.default_rng(seed)
    out = []
    for t in tensors:
        if t.dtype.kind == "f":
            out.append(rng.random(t.shape).astype(t.dtype))
        elif t.dtype.kind == "b":
            out.append(rng.integers(0, 2, t.shape).astype(bool))
        elif t.dtype.itemsize >= 4:  # int32/int64 are usually ids or indices: keep them small
            out.append(rng.integers(0, 100, t.shape).astype(t.dtype))
        else:
            info = np.iinfo(t.dtype)
            out.append(rng.integers(int(info.min), int(info.max) + 1, t.shape).astype(t.dtype))
    return out


def _load_arrays(path: str) -> dict:
    if not os.path.isfile(path):
        raise HarnessError(f"data file {path} does not exist", "data")
    try:
        obj = np.load(path, allow_pickle=False)
        if isinstance(obj, np.ndarray):  # .npy
            return {"x": obj}
        with obj:
            return {k: obj[k] for k in obj.files}
    except (ValueError, OSError) as exc:
        raise HarnessError(f"{path}: not a readable .npy/.npz file of numeric arrays ({exc})", "data") from exc


def file_inputs(tensors, path: str):
    """The first batch of an .npy, or of an .npz's arrays named like the inputs (or 'x' for a single input)."""
    arrays = _load_arrays(path)
    out = []
    for i, t in enumerate(tensors):
        a = next((arrays[k] for k in arrays if k in (t.name, t.key) or name_key(k) == name_key(t.key)), None)
        if a is None and len(tensors) == 1:
            a = arrays.get("x")
        if a is None and len(tensors) == 1:
            a = next(iter(arrays.values()))
        if a is None:
            raise HarnessError(f"{path}: no array named {t.key!r} for input {i}; name the arrays after the inputs "
                               f"({', '.join(x.key for x in tensors)}); it has {', '.join(arrays)}", "data")
        if a.ndim == len(t.shape) - 1:
            a = a[None]
        a = a[: t.shape[0]]
        if a.shape != t.shape:
            raise HarnessError(f"{path}: array shaped {a.shape} does not fit input {t.name!r} {t.shape}", "data")
        out.append(t.to_input(a))
    return out


def latency_stats(ms) -> dict:
    a = np.asarray(ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "mean": round(float(a.mean()), 4),
        "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
        "min": round(float(a.min()), 4),
        "p50": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "p99": round(float(p99), 4),
        "max": round(float(a.max()), 4),
    }


def predict(backend, xs, progress=None):
    """Run every sample of the float arrays ``xs`` (one per input, same length) in batches of the model's
    static batch size (the last batch padded with its last sample, the padding dropped); float outputs."""
    b = backend.inputs[0].shape[0] or 1
    n = len(xs[0])
    outs = []
    for i in range(0, n, b):
        chunk = [x[i : i + b] for x in xs]
        real = len(chunk[0])
        if real < b:  # pad the last batch with its last sample
            chunk = [np.concatenate([c, np.repeat(c[-1:], b - real, axis=0)]) for c in chunk]
        backend.feed([t.to_input(c) for t, c in zip(backend.inputs, chunk)])
        backend.invoke()
        outs.append([t.to_float(o).reshape((b,) + tuple(t.shape[1:]))[:real]
                     for t, o in zip(backend.outputs, backend.fetch())])
        if progress:
            progress("eval", i + real, n)
    return [np.concatenate([o[k] for o in outs]) for k in range(len(backend.outputs))]


def evaluate(backend, path: str, progress=None) -> dict:
    """Top-1 accuracy of the first output on an .npz with x (inputs, float or the model's dtype) and y (labels)."""
    arrays = _load_arrays(path)
    if "x" not in arrays or "y" not in arrays:
        raise HarnessError(f"{path}: --eval-data needs an .npz with arrays 'x' (inputs) and 'y' (integer labels)", "data")
    x, y = arrays["x"], arrays["y"].astype(np.int64).reshape(-1)
    t_in = backend.inputs[0]
    if len(x) != len(y) or x.shape[1:] != t_in.shape[1:]:
        raise HarnessError(f"{path}: x {x.shape} / y {y.shape} do not fit the model input {t_in.shape}", "data")
    out = predict(backend, [x], progress)[0].reshape(len(x), -1)
    if out.shape[1] == 1:  # a single sigmoid/logit unit
        pred = (out[:, 0] > (0.0 if out.min() < 0 else 0.5)).astype(np.int64)
    else:
        pred = out.argmax(1)
    return {"top1": int((pred == y).sum()) / len(x), "samples": int(len(x)), "data": os.path.basename(path)}


# ---------------------------------------------------------------- the benchmark


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_pairs(backend, pairs) -> list:
    """``["new_state:state", ...]`` -> [(output index, input index)]: a streaming model's state, fed back."""
    out = []
    for item in pairs or ():
        o, _, i = str(item).rpartition(":")
        oi = [k for k, t in enumerate(backend.outputs) if o in (t.name, t.key) or name_key(o) == name_key(t.key)]
        if not oi and o.rpartition("_")[2].isdigit() and o.rpartition("_")[0] in ("output", ""):
            oi = [int(o.rpartition("_")[2])] if int(o.rpartition("_")[2]) < len(backend.outputs) else []
        ii = [k for k, t in enumerate(backend.inputs) if i in (t.name, t.key) or name_key(i) == name_key(t.key)]
        if len(oi) != 1 or len(ii) != 1:
            raise HarnessError(
                f"--state {item!r}: expected OUTPUT:INPUT naming one output (or output_N, the Nth) and one input; outputs: "
                f"{', '.join(t.key for t in backend.outputs)}; inputs: {', '.join(t.key for t in backend.inputs)}")
        a, b = backend.outputs[oi[0]], backend.inputs[ii[0]]
        if a.shape != b.shape:
            raise HarnessError(f"--state {item!r}: output shape {a.shape} differs from input shape {b.shape}")
        out.append((oi[0], ii[0]))
    return out


def carry(backend, feed, pairs):
    """Feed each state output back into its input (requantized when their scales differ); returns the feed."""
    if not pairs:
        return feed
    outs = backend.fetch()
    for oi, ii in pairs:
        feed[ii] = backend.inputs[ii].to_input(backend.outputs[oi].to_float(np.asarray(outs[oi])))
    backend.feed(feed)
    return feed


def _timed(be, feed, pairs, warmup: int, runs: int, progress):
    """Warm-up and timed invokes (only ``invoke`` timed; a streaming model's state carried after each).
    Returns (samples in ns, warm-up runs done, interrupted)."""
    samples = array.array("q")  # ns; 8 bytes a run, grown as it goes (no up-front allocation)
    warm_done, interrupted = 0, False
    gc_was_enabled = gc.isenabled()
    gc.disable()  # no collector pauses inside the timed loop
    try:
        for i in range(warmup):
            be.invoke()
            feed = carry(be, feed, pairs)
            warm_done = i + 1
            if progress:
                progress("warmup", warm_done, warmup)
        clock = time.perf_counter_ns
        for i in range(runs):
            t = clock()
            be.invoke()
            samples.append(clock() - t)
            feed = carry(be, feed, pairs)
            if progress:
                progress("timing", i + 1, runs)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples, warm_done, interrupted


def run(model, threads=1, runs=100, warmup=10, seed=0, inputs=None, eval_data=None, runtime=None,
        accelerator="none", require_full=False, progress=None, state=None) -> dict:
    """Benchmark ``model``; returns the ``edgekit.bench/1`` dict. ``progress(stage, done, total)`` is called
    outside the timed region. KeyboardInterrupt during warm-up/timing returns the partial result. ``state``
    (``["OUT:IN", ...]``): a streaming model; each run is one frame, the state outputs fed back (untimed)
    into the state inputs, so the latency is per frame with state carried."""
    model = str(model)
    if threads < 1 or runs < 1 or warmup < 0:
        raise HarnessError("--threads and --runs must be at least 1, --warmup at least 0")
    rss_start = _rss_now()
    if progress:
        progress("load", 0, 1)
    t0 = time.perf_counter()
    be = open_backend(model, threads, runtime, accelerator, require_full)
    init_ms = (time.perf_counter() - t0) * 1e3
    feed = file_inputs(be.inputs, inputs) if inputs else random_inputs(be.inputs, seed)
    pairs = state_pairs(be, state)
    for _, ii in pairs:  # a stream starts from a zero state
        feed[ii] = be.inputs[ii].to_input(np.zeros(be.inputs[ii].shape, np.float32))
    be.feed(feed)
    t0 = time.perf_counter()
    be.invoke()
    first_ms = (time.perf_counter() - t0) * 1e3
    outputs_ok = all(np.isfinite(np.asarray(o, dtype=np.float64)).all() for o in be.fetch())
    feed = carry(be, feed, pairs)
    samples, warm_done, interrupted = _timed(be, feed, pairs, warmup, runs, progress)
    accuracy = None
    if eval_data and not interrupted:
        accuracy = evaluate(be, eval_data, progress)
    return {
        "schema": SCHEMA,
        "harness": {"version": HARNESS_VERSION},
        "where": machine_info(),
        "runtime": {"name": be.name, "version": be.version, "accelerator": be.accelerator},
        "model": {"path": model, "format": os.path.splitext(model)[1].lstrip(".").lower(),
                  "bytes": os.path.getsize(model), "sha256": _sha256(model)},
        "threads": threads,
        "inputs": {
            "source": inputs if inputs else f"random(seed={seed})",
            "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype.name} for t in be.inputs],
            "state": [f"{be.outputs[o].key}:{be.inputs[i].key}" for o, i in pairs] or None,
        },
        "outputs_finite": bool(outputs_ok),
        "init_ms": round(init_ms, 4),
        "first_inference_ms": round(first_ms, 4),
        "warmup": warm_done,
        "runs": len(samples),
        "runs_requested": runs,
        "interrupted": interrupted,
        "latency_ms": latency_stats(np.frombuffer(samples, dtype=np.int64) / 1e6) if samples else None,
        "peak_rss_bytes": _peak_rss(),
        "rss_at_start_bytes": rss_start,
        "accuracy": accuracy,
    }


def summary(r: dict) -> str:
    w, lat = r["where"], r["latency_ms"]
    head = f"{os.path.basename(r['model']['path'])} on {r['runtime']['name']} {r['runtime']['version']}, {r['threads']} thread(s)"
    where = f"measured on {w['hostname']} ({w['arch']}, {w['board'] or w['cpu']}, {w['cores']} cores)"
    if lat is None:
        body = "no timed run completed"
    else:
        body = f"p50 {lat['p50']:.3f} ms  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  mean {lat['mean']:.3f} ± {lat['std']:.3f}"
    lines = [head, where, f"{body}  ({r['runs']} runs{', INTERRUPTED' if r['interrupted'] else ''})"]
    if r["accuracy"]:
        lines.append(f"top-1 accuracy {r['accuracy']['top1']:.4f} on {r['accuracy']['samples']} samples")
    return "\n".join(lines)


def write_json(path: str, obj: dict) -> None:
    """Atomic: readers see no file or the whole file (temp file + rename)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgekit_harness.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help=".tflite or .onnx file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=100, help="timed runs (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs after the first inference (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--inputs", help=".npy/.npz with the input batch (default: seeded random inputs)")
    p.add_argument("--eval-data", help=".npz with x, y: top-1 accuracy measured with this runtime")
    p.add_argument("--runtime", choices=TFLITE_RUNTIMES + ("onnxruntime",), help="force a runtime (default: the first found)")
    p.add_argument("--accelerator", choices=ACCELERATORS, default="none",
                   help="none: classic interpreter; cpu|gpu: LiteRT 2.x CompiledModel on that accelerator")
    p.add_argument("--require-full-acceleration", action="store_true", help="with --accelerator gpu: no CPU fallback")
    p.add_argument("--state", action="append", metavar="OUT:IN",
                   help="streaming model: feed output OUT back into input IN after each run (repeatable); "
                        "latency is then per frame with the state carried")
    p.add_argument("--json", help="write the result JSON here ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)
    to_stdout = a.json == "-"
    human = sys.stderr if to_stdout else sys.stdout

    last = []

    def progress(stage, done, total):  # one line per stage: "edgekit-harness: timing (200)"
        if last != [stage]:
            last[:] = [stage]
            print(f"edgekit-harness: {stage} ({total})", file=sys.stderr, flush=True)

    try:
        r = run(a.model, a.threads, a.runs, a.warmup, a.seed, a.inputs, a.eval_data, a.runtime, a.accelerator,
                a.require_full_acceleration, None if a.quiet else progress, a.state)
    except HarnessError as exc:
        print(f"error ({exc.kind}): {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgekit-harness: interrupted before any timed run", file=sys.stderr)
        return 130
    if a.json and not to_stdout:
        write_json(a.json, r)
    elif to_stdout:
        sys.stdout.write(json.dumps(r, indent=2) + "\n")
    print(summary(r), file=human)
    return 130 if r["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
