"""Property-based fuzzing of the model loaders with mutated bytes of small real models: a Keras 3 ``.keras``
file, the ``.tflite`` the TFLite converter makes of it, and an ONNX model (Conv with a Constant weight, Relu,
Gemm). Fed to edgekit's loaders (``edgekit.models.load_model``; ``.tflite`` through the benchmark harness
that loads and runs it with LiteRT): only success or an EdgekitError, never another exception, nothing
written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_targets as ft

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def onnx_seed() -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(2, 1, 3, 3)).astype(np.float32), "w")
    g = numpy_helper.from_array(rng.normal(size=(2 * 6 * 6, 3)).astype(np.float32), "g")
    nodes = [
        helper.make_node("Constant", [], ["w"], value=w),
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=[g])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def keras_seeds(folder: Path) -> tuple[bytes, bytes]:
    """(.keras bytes, .tflite bytes) of a small seeded CNN."""
    from edgekit._lazy import keras, tf

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((8, 8, 1))
    x = k.layers.Conv2D(2, 3, activation="relu")(inp)
    model = k.Model(inp, k.layers.Dense(3)(k.layers.Flatten()(x)))
    model.save(folder / "seed.keras")
    tflite = tf().lite.TFLiteConverter.from_keras_model(model).convert()
    return (folder / "seed.keras").read_bytes(), bytes(tflite)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    keras_bytes, tflite_bytes = keras_seeds(tmp_path_factory.mktemp("seeds"))
    return {"onnx": onnx_seed(), "keras": keras_bytes, "tflite": tflite_bytes}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    p.write_bytes(data)
    return p


def load_source(p: Path) -> None:
    from edgekit.models import load_model

    m = load_model(p)
    m.predict([np.zeros((1, *[d or 1 for d in m.input.sample_shape]), np.float32)])


def bench_tflite(p: Path) -> None:
    from edgekit.bench import BenchOptions, bench_local

    bench_local(p, BenchOptions(runs=1, warmup=0))


def tflite_both(p: Path) -> None:
    """A .tflite as a conversion source (edgekit.models) and as an artifact to benchmark (the harness)."""
    for fn in (load_source, bench_tflite):
        ft.outcome(fn, p, watch=p.parent)


def test_seeds_load(seeds, tmp_path):
    """The unmutated seeds load and run: the fuzz starts from real, working models."""
    for name, fn in (("m.onnx", load_source), ("m.keras", load_source), ("m.tflite", bench_tflite)):
        p = _write(tmp_path, name, seeds[name.split(".")[1]])
        assert ft.outcome(fn, p, watch=p.parent) == "ok"


@pytest.mark.parametrize("kind", ["onnx", "keras", "tflite"])
@FUZZ
@given(data=st.data())
def test_fuzz_model_bytes(seeds, tmp_path, kind, data):
    p = _write(tmp_path, f"m.{kind}", data.draw(ft.mutated(seeds[kind]), label="bytes"))
    ft.outcome(tflite_both if kind == "tflite" else load_source, p, watch=p.parent)


def test_undefined_onnx_element_type_is_a_model_load_error(tmp_path):
    """Found by benchmarks/fuzz_long.py: an output whose element type ONNX does not define (a flipped bit)
    passed onnx.checker and raised KeyError from onnx.helper."""
    import onnx

    from edgekit.errors import ModelLoadError

    m = onnx.load_from_string(onnx_seed())
    m.graph.output[0].type.tensor_type.elem_type = 65
    p = _write(tmp_path, "m.onnx", m.SerializeToString())
    with pytest.raises(ModelLoadError):
        load_source(p)


def _tflite_table(tflite_bytes: bytes):
    import tflite

    buf = bytearray(tflite_bytes)
    model = tflite.Model.GetRootAsModel(buf, 0)
    sg = model.Subgraphs(0)
    tensors = {sg.Tensors(i).Name().decode(): sg.Tensors(i) for i in range(sg.TensorsLength())}
    return buf, model, _Named(tensors)


class _Named(dict):
    """Tensors by name, ignoring Keras's per-process layer counters (``functional_3/flatten_2/...`` reads as
    ``functional/flatten/...``): the seed model's names depend on how many models the process built before."""

    def __getitem__(self, name):
        import re

        plain = lambda n: re.sub(r"(_\d+)+(?=/|$)", "", n)  # noqa: E731
        hits = [v for k, v in self.items() if plain(k) == plain(name)]
        if len(hits) != 1:
            raise KeyError(f"{name}: {len(hits)} tensors match among {sorted(self)[:8]}...")
        return hits[0]


def _retyped_tflite(tflite_bytes: bytes, tensor_name: str, tflite_type: int) -> bytes:
    """The .tflite with one stored tensor type overwritten in place (as a flipped byte would): the file parses,
    and LiteRT fails to prepare the node that uses the tensor."""
    buf, _, tensors = _tflite_table(tflite_bytes)
    t = tensors[tensor_name]
    field = t._tab.Offset(6)  # Tensor.type; stored only when not the default (FLOAT32)
    assert field, f"{tensor_name}: type not stored"
    buf[t._tab.Pos + field] = tflite_type
    return bytes(buf)


def test_tflite_that_fails_to_prepare_is_a_model_load_error(seeds, tmp_path):
    """Found by benchmarks/fuzz_long.py: a .tflite whose graph fails to prepare ("STRIDED_SLICE failed to
    prepare", type mismatch) raised RuntimeError; as a conversion source it still did on the first predict."""
    from edgekit.errors import ModelLoadError
    from edgekit.runtimes.litert import LiteRTRunner

    bad = _retyped_tflite(seeds["tflite"], "functional_1/flatten_1/strided_slice", 9)  # INT32 -> INT8
    p = _write(tmp_path, "m.tflite", bad)
    for kw in ({}, {"default_delegates": False}):
        with pytest.raises(ModelLoadError, match="STRIDED_SLICE"):
            LiteRTRunner(bad, **kw)
    with pytest.raises(ModelLoadError, match="STRIDED_SLICE"):
        bench_tflite(p)
    with pytest.raises(ModelLoadError, match=r"m\.tflite: LiteRT cannot run this model .*STRIDED_SLICE"):
        load_source(p)
    assert sorted(x.name for x in p.parent.iterdir()) == ["m.tflite"]


def test_tflite_tensor_name_that_is_not_utf8_is_a_model_load_error(seeds, tmp_path):
    """Found by benchmarks/fuzz_long.py: LiteRT's tensor details raised UnicodeDecodeError for a flipped byte in
    a tensor name, in the tflite source loader and in LiteRTRunner."""
    from edgekit.errors import ModelLoadError
    from edgekit.runtimes.litert import LiteRTRunner

    buf, _, tensors = _tflite_table(seeds["tflite"])
    t = tensors["StatefulPartitionedCall_1:0"]  # the model's output
    name = t._tab.Indirect(t._tab.Pos + t._tab.Offset(10)) + 4  # Tensor.name: the string's first byte, after its length
    buf[name] = 0xFF
    bad = bytes(buf)
    with pytest.raises(ModelLoadError, match="UnicodeDecodeError|utf-8"):
        LiteRTRunner(bad)
    with pytest.raises(ModelLoadError, match="utf-8"):
        load_source(_write(tmp_path, "m.tflite", bad))


def test_tflite_that_fails_to_run_is_a_model_load_error(seeds, tmp_path):
    """Found by benchmarks/fuzz_long.py: a .tflite that loads and allocates but whose RESHAPE fails on the
    first run (its shape is computed at run time) raised RuntimeError from LiteRTRunner.infer."""
    from edgekit.errors import ModelLoadError
    from edgekit.runtimes.litert import LiteRTRunner

    buf, model, tensors = _tflite_table(seeds["tflite"])
    b = model.Buffers(tensors["functional_1/flatten_1/Reshape/shape/1"].Buffer())  # the 72 of reshape(-1, 72)
    start = b._tab.Vector(b._tab.Offset(4))
    assert int(np.frombuffer(bytes(buf[start : start + 4]), "<i4")[0]) == 72
    buf[start : start + 4] = np.int32(24).tobytes()
    bad = bytes(buf)
    x = [np.zeros((1, 8, 8, 1), np.float32)]
    with LiteRTRunner(bad) as r, pytest.raises(ModelLoadError, match=r"artifact: ai_edge_litert cannot run this model.*RESHAPE"):
        r.infer(x)
    with pytest.raises(ModelLoadError, match="LiteRT cannot run this model .*RESHAPE"):
        load_source(_write(tmp_path, "m.tflite", bad))


def test_onnx_constant_whose_data_does_not_fit_its_shape_is_a_model_load_error(tmp_path):
    """Found by benchmarks/fuzz_long.py: a Constant tensor with 18 values and dims of 8 passed onnx.checker
    and raised ValueError (numpy reshape) when edgekit moved it into the initializers."""
    import onnx

    from edgekit.errors import ModelLoadError

    m = onnx.load_from_string(onnx_seed())
    dims = m.graph.node[0].attribute[0].t.dims
    del dims[:]
    dims.extend([2, 1, 2, 2])
    p = _write(tmp_path, "m.onnx", m.SerializeToString())
    with pytest.raises(ModelLoadError, match="Constant node 'w' holds a tensor whose data does not match"):
        load_source(p)


def test_a_file_that_crashes_the_runtime_is_refused_and_edgekit_survives(tmp_path):
    """A real native crash, isolated: a child process that the runtime kills with SIGSEGV (a stand-in for the
    mutated .tflite that segfaulted LiteRT's Interpreter in fuzz_long, which is not reproducible on demand)
    is reported as a ModelLoadError, and this process lives on."""
    import subprocess
    import sys

    from edgekit.errors import ModelLoadError
    from edgekit.runtimes import isolation

    real_run = subprocess.run

    def crash_in_child(cmd, **kw):  # the child really runs and really dies of SIGSEGV
        return real_run([sys.executable, "-c", "import ctypes; ctypes.string_at(0)"], **kw)

    path = tmp_path / "m.tflite"
    path.write_bytes(b"\0\0\0\0TFL3")
    isolation.subprocess.run = crash_in_child
    try:
        with pytest.raises(ModelLoadError, match=r"the runtime crashed \(SIGSEGV\) loading or running this file"):
            isolation.check_loads(path)
    finally:
        isolation.subprocess.run = real_run
