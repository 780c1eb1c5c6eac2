#!/usr/bin/env python3
"""Run one .tflite on validation inputs with one runtime; write its raw outputs. ONE self-contained file.

Standard library + numpy (1.x or 2.x), Python 3.9+, nothing from edgekit: it runs inside the emulated
device root (``qemu-aarch64-static ... python3.11 probe.py``) and, imported, on the host too.

    python3 probe.py MODEL.tflite INPUTS.npz OUTPUTS.npz --runtime tflite_runtime

INPUTS.npz holds ``in0``, ``in1``, ... each shaped ``[N, *input_shape[1:]]`` (float data is quantized with
the input tensor's scale/zero point; integer data is passed as is). OUTPUTS.npz gets ``out0``, ... shaped
``[N, *output_shape[1:]]`` in the output tensors' own dtypes; a JSON line on stdout says which runtime
ran and each output's quantization. Exit 0 ran, 2 error (message on stderr); a crash is the signal.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

RUNTIMES = ("tflite_runtime", "ai_edge_litert")


def interpreter_class(runtime: str):
    if runtime == "tflite_runtime":
        import tflite_runtime as pkg
        from tflite_runtime.interpreter import Interpreter
    elif runtime == "ai_edge_litert":
        import ai_edge_litert as pkg
        from ai_edge_litert.interpreter import Interpreter
    else:
        raise ValueError("unknown runtime %r; choose from %s" % (runtime, ", ".join(RUNTIMES)))
    version = getattr(pkg, "__version__", None)
    if version is None:  # ai-edge-litert 1.x has no __version__: ask its distribution
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(runtime.replace("_", "-"))
        except Exception:
            version = "unknown"
    return version, Interpreter


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail.get("quantization", (0.0, 0))
    if x.dtype.kind == "f" and dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale) + zero, info.min, info.max)
    return x.astype(dtype)


def run_model(model_content: bytes, inputs: list, runtime: str, threads: int = 1) -> tuple:
    """Outputs (one array per output, stacked over samples) and a description of the run."""
    version, Interpreter = interpreter_class(runtime)
    it = Interpreter(model_content=model_content, num_threads=threads)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(inputs) != len(ins):
        raise ValueError("the model has %d input(s); got %d array(s)" % (len(ins), len(inputs)))
    n = len(inputs[0])
    batch = int(ins[0]["shape"][0]) or 1
    results = [[] for _ in outs]
    for start in range(0, n, batch):
        for d, x in zip(ins, inputs):
            chunk = x[start : start + batch]
            if len(chunk) < batch:  # pad the last batch with its last sample
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
            if tuple(chunk.shape) != tuple(d["shape"]):
                raise ValueError("input %r wants shape %s; got samples shaped %s" % (d["name"], list(d["shape"]), list(x.shape[1:])))
            it.set_tensor(d["index"], _quantize(np.asarray(chunk), d))
        it.invoke()
        for k, d in enumerate(outs):
            results[k].append(np.array(it.get_tensor(d["index"]))[: n - start])
    info = {
        "runtime": runtime,
        "version": version,
        "numpy": np.__version__,
        "samples": n,
        "outputs": [{"name": d["name"], "dtype": np.dtype(d["dtype"]).name,
                     "scale": float(d.get("quantization", (0.0, 0))[0]),
                     "zero_point": int(d.get("quantization", (0.0, 0))[1])} for d in outs],
    }
    return [np.concatenate(r) for r in results], info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("outputs")
    p.add_argument("--runtime", choices=RUNTIMES, required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    try:
        with open(a.model, "rb") as f:
            content = f.read()
        with np.load(a.inputs, allow_pickle=False) as z:
            inputs = [z["in%d" % i] for i in range(len(z.files))]
        outputs, info = run_model(content, inputs, a.runtime, a.threads)
    except (ImportError, ValueError, RuntimeError, OSError, KeyError) as exc:
        print("%s: %s" % (type(exc).__name__, " ".join(str(exc).split())[:600]), file=sys.stderr)
        return 2
    np.savez(a.outputs, **{"out%d" % i: o for i, o in enumerate(outputs)})
    sys.stdout.write(json.dumps(info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
