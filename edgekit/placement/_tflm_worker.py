"""Runs INSIDE the TFLite Micro venv (stdlib + numpy + tflite_micro only). Never imported by edgekit.

argv: model.tflite request.json  -> prints one JSON line on stdout. Inputs/outputs go through .npy files.
Steps: measure the arena with a large one (RecordingMicroAllocator report), verify by running with exactly
that size (growing it if TFLM needs more than it reported), check that clearly less fails, then run the
validation inputs with the verified arena."""

import contextlib
import json
import os
import re
import sys
import tempfile

import numpy as np
from tflite_micro.python.tflite_micro import runtime


@contextlib.contextmanager
def _stderr_to(buf: list):
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            buf.append(tmp.read().decode("utf-8", "replace"))


def _try(data, arena, sample=None):
    """(ok, stderr, interpreter): build with ``arena`` bytes and run one zero (or given) sample."""
    err: list = []
    try:
        with _stderr_to(err):
            it = runtime.Interpreter.from_bytes(data, arena_size=int(arena))
            d = it.get_input_details(0)
            x = sample if sample is not None else np.zeros(d["shape"], d["dtype"])
            it.set_input(x, 0)
            it.invoke()
        return True, "".join(err), it
    except (RuntimeError, ValueError) as exc:
        return False, "".join(err) + f"\n{exc}", None


def main():
    model, req_path = sys.argv[1], sys.argv[2]
    req = json.load(open(req_path))
    data = open(model, "rb").read()
    print(json.dumps({"stage": "prepare"}), flush=True)  # progress marker: an abort after this is in prepare
    ok, err, it = _try(data, req["probe_arena"])
    if not ok:
        missing = sorted(set(re.findall(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", err)))
        print(json.dumps({"ok": False, "missing_ops": missing, "stderr": err[-4000:]}), flush=True)
        return
    rep: list = []
    with _stderr_to(rep):
        it.print_allocations()
    m = re.search(r"Arena allocation total (\d+) bytes", "".join(rep))
    reported = int(m.group(1)) if m else None
    arena, tries = reported, 0
    while arena is not None and not _try(data, arena)[0] and tries < 40:
        arena = int(arena * 1.01) + 16  # TFLM can need more than its recording reports (resource variables)
        tries += 1
    verified = bool(arena) and _try(data, arena)[0]
    less = int(arena * (1 - req["less_fraction"])) if arena else None
    less_fails = (not _try(data, less)[0]) if less else None
    outs = []
    if req.get("inputs"):
        xs = [np.load(p) for p in req["inputs"]]
        it = runtime.Interpreter.from_bytes(data, arena_size=int(arena))
        try:
            for k in range(len(xs[0])):
                for i, x in enumerate(xs):
                    it.set_input(x[k:k + 1], i)
                it.invoke()
                outs.append([np.array(it.get_output(j)) for j in range(req["n_outputs"])])
        except (RuntimeError, ValueError) as exc:  # e.g. inputs of another shape or dtype than the model's
            print(json.dumps({"ok": False, "missing_ops": [], "stderr": f"running the inputs: {exc}"}), flush=True)
            return
        for j in range(req["n_outputs"]):
            path = os.path.join(req["out_dir"], f"out{j}.npy")
            np.save(path, np.concatenate([o[j] for o in outs]))
    print(json.dumps({"ok": True, "reported": reported, "arena": arena, "less": less, "less_fails": less_fails, "verified": verified,
                      "n_out": len(outs)}), flush=True)


if __name__ == "__main__":
    main()
