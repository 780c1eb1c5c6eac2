"""Fuzz targets and strategies shared by the bounded fuzz tests (tests/test_fuzz_*.py) and the long run
(benchmarks/fuzz_long.py). Every target feeds one hostile input to a real edgekit parser or loader and
returns "ok" or "refused" (an EdgekitError); any other exception escapes and is a defect. The folder holding
the input is snapshotted around the call: a loader must never write there, on failure or success."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from cli_checks import snapshot
from edgekit.errors import EdgekitError

# ------------------------------------------------------------------------------------------ mutations


@st.composite
def mutated(draw, seed: bytes, max_ops: int = 4) -> bytes:
    """``seed`` after 1..max_ops of: bit flip, truncation, inserted junk, deleted run, duplicated run."""
    b = bytearray(seed)
    for _ in range(draw(st.integers(1, max_ops))):
        n = len(b)
        op = draw(st.sampled_from(["flip", "flip", "trunc", "insert", "delete", "dup", "byte"]))
        if op == "flip" and n:
            b[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and n:
            b[draw(st.integers(0, n - 1))] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "trunc":
            b = b[: draw(st.integers(0, n))]
        elif op == "insert":
            i = draw(st.integers(0, n))
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            del b[i : i + draw(st.integers(1, 16))]
        elif op == "dup" and n:
            i = draw(st.integers(0, n - 1))
            j = min(n, i + draw(st.integers(1, 64)))
            b[j:j] = b[i:j]
    return bytes(b)


TOKENS = ["", "nan", "inf", "-inf", "-1", "0", "1e400", "99999999999999999999999", "[]", "{}", "true", "null", "~",
          '"x"', "'x'", "[1, [2]]", "{a: 1}", '"../../etc/passwd"', "!!python/object/apply:os.system [id]",
          "&a [*a]", '"\\u0000"', "int8", "fp32", "onnx", "tflite", "=", ":", "- x", "\t", "\\"]


@st.composite
def mutated_text(draw, seed: str, max_ops: int = 3) -> str:
    """``seed`` after 1..max_ops line/token edits (duplicate/delete/swap a line, replace a value, add junk)."""
    lines = seed.splitlines()
    for _ in range(draw(st.integers(1, max_ops))):
        n = len(lines)
        op = draw(st.sampled_from(["dup", "delete", "value", "value", "junk", "indent"]))
        i = draw(st.integers(0, max(0, n - 1)))
        if op == "dup" and n:
            lines.insert(draw(st.integers(0, n)), lines[i])
        elif op == "delete" and n:
            del lines[i]
        elif op == "value" and n:
            sep = ":" if ":" in lines[i] else "="
            head = lines[i].split(sep, 1)[0]
            lines[i] = f"{head}{sep} {draw(st.sampled_from(TOKENS))}"
        elif op == "indent" and n:
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        else:
            lines.insert(i, draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=20))))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ runner


def outcome(fn, *args, watch: Path) -> str:
    """Call ``fn(*args)``: "ok", or "refused" for an EdgekitError; anything else propagates. ``watch`` must be
    byte-for-byte unchanged afterwards."""
    before = snapshot(watch)
    try:
        fn(*args)
        result = "ok"
    except EdgekitError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
        result = "refused"
    after = snapshot(watch)
    assert after == before, f"{watch} changed: {sorted(set(after) ^ set(before)) or 'contents'}"
    return result


# ------------------------------------------------------------------------------------------ seeds

PROFILE_TOML = textwrap.dedent("""\
    name = "fuzz"
    description = "fuzzed profile"
    runtime = "litert"
    delegate = "xnnpack"
    formats = ["tflite"]
    precision = "int8"
    allowed_precisions = ["int8", "fp32"]
    io_dtype = "int8"
    default_threads = 2
    memory_budget_mb = 64

    [onnx]
    opset = 17
    calibration_method = "minmax"
""")

PROFILE_YAML = textwrap.dedent("""\
    name: fuzz
    description: fuzzed profile
    runtime: onnxruntime
    formats: [onnx]
    precision: int8
    allowed_precisions: [int8, dynamic, fp32]
    io_dtype: float32
    onnx: {opset: 17, per_channel: true, quant_format: qdq}
""")

CONFIG_YAML = textwrap.dedent("""\
    targets: [rpi, cpu-fp32]
    seed: 3
    defaults: {calibration_samples: 50}
    models:
      cnn:
        path: m.keras
        calibration: data.npz
        eval_data: data.npz
        labels: labels.txt
        calibration_samples: 10
        image: {normalize: "0..1"}
      other:
        path: m.keras
        calibration: random
        targets: [rpi]
    variants:
      fp32: {precision: fp32}
      i16: {precision: int16x8, targets: [cpu-fp32]}
    thresholds: {max_accuracy_drop: 0.02, min_cosine: 0.99}
""")

CONFIG_TOML = textwrap.dedent("""\
    targets = ["rpi"]
    seed = 1

    [models.cnn]
    path = "m.keras"
    calibration = "data.npz"
    labels = ["a", "b"]

    [variants.fp32]
    precision = "fp32"

    [thresholds]
    min_cosine = 0.9
""")


def config_folder(d: Path) -> Path:
    """The files a fuzzed build config refers to."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "m.keras").write_bytes(b"PK\x03\x04 not loaded by load_config")
    np.savez(d / "data.npz", x=np.zeros((4, 8, 8, 1), np.float32))
    (d / "labels.txt").write_text("zero\none\n")
    return d


def npy_bytes(a: np.ndarray, pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=pickle)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def image_seeds() -> dict[str, bytes]:
    """Small real images in the formats edgekit reads (made with PIL, seeded)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    out = {}
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"), ("BMP", ".bmp"), ("TIFF", ".tif"),
                        ("WEBP", ".webp"), ("PPM", ".ppm")):
        buf = io.BytesIO()
        rgb.save(buf, format=fmt)
        out[suffix] = buf.getvalue()
    return out


# --------------------------------------------------------------------------------- numpy value strategies

DTYPES = ["float32", "float64", "float16", "int8", "uint8", "int64", "bool", "complex64", "<U3", "|S2", "datetime64[s]",
          "object", [("a", "<f4"), ("b", "<i2")]]


@st.composite
def arrays(draw):
    """Arrays of many dtypes and shapes (the model takes (N, 8, 8, 1)), NaN/Inf and huge values included."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.sampled_from([(0,), (), (3,), (2, 8, 8, 1), (3, 8, 8), (1, 8, 8, 1), (2, 8, 8, 3), (2, 1, 8, 8, 1),
                                  (0, 8, 8, 1), (4, 64)]))
    size = int(np.prod(shape)) if shape else 1
    if dtype.kind == "f":
        vals = draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 1e38, np.nan, np.inf, -np.inf, 0.5]), min_size=size, max_size=size))
        a = np.array(vals, dtype=np.float64).astype(dtype) if size else np.zeros(shape, dtype)
    elif dtype.kind == "O":
        a = np.empty(shape, dtype=object)
        if size:
            a.reshape(-1)[0] = {"x": 1}
    else:
        a = np.zeros(shape, dtype=dtype)
    return a.reshape(shape)
