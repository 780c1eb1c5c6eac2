"""Several inputs and outputs, frozen inputs and stateful streaming, end to end on real runtimes (LiteRT,
onnxruntime) with models trained here on real data: sklearn digits as image + engineered features, and a
voice-activity model over real speech (espeak-ng + sox, mixed with noise)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

import kw
import multi_nets
from conftest import run_cli
from edgekit.errors import CalibrationError, ConfigError
from edgekit.models.base import TensorSpec
from edgekit.models.feed import Stream
from edgekit.quantize.calibration import load_data


@pytest.fixture(scope="module")
def digits2(tmp_path_factory):
    return multi_nets.digits_two_inputs(tmp_path_factory.mktemp("digits2"))


@pytest.fixture(scope="module")
def vad(tmp_path_factory):
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make speech (run .ci/setup)")
    d = tmp_path_factory.mktemp("vad")
    path, x, y = multi_nets.vad_model(d)
    np.savez(d / "train.npz", frame=x[:72], y=y[:72])
    np.savez(d / "test.npz", frame=x[72:], y=y[72:])
    return path, multi_nets.vad_onnx(path, d / "vad.onnx"), d / "train.npz", d / "test.npz"


@pytest.mark.parametrize("target", ["rpi", "x86-ort"])
def test_two_input_model_int8_keeps_accuracy(digits2, tmp_path, target):
    path, train, test, _ = digits2
    r = kw.convert(path, target=target, output_dir=tmp_path, calibration=train, eval_data=test, precision="int8")
    m = r.manifest
    assert [(t.name, t.shape) for t in m.source.inputs] == [("image", [None, 8, 8, 1]), ("features", [None, 16])]
    acc = m.artifacts[0].validation.accuracy
    assert acc.source > 0.9 and acc.drop <= 0.01, acc
    assert m.artifacts[0].validation.top1_agreement >= 0.97
    assert m.passed


def test_two_input_artifact_benches_with_named_inputs(digits2, tmp_path):
    path, train, test, _ = digits2
    r = kw.convert(path, target="x86-ort", output_dir=tmp_path, calibration=train, eval_data=test, precision="int8")
    z = np.load(test)
    np.savez(tmp_path / "one.npz", features=z["features"][:1], image=z["image"][:1])  # not in model order
    out = subprocess.run([sys.executable, "-m", "edgekit.runtimes.harness", str(r.artifact_paths[0]), "--runs", "3",
                          "--warmup", "0", "--inputs", str(tmp_path / "one.npz"), "--json", "-", "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert [t["name"] for t in res["inputs"]["tensors"]] == ["image", "features"] and res["outputs_finite"]


def _check_stream(r, min_agreement=0.98):
    v = r.manifest.artifacts[0].validation
    assert [o.name for o in v.outputs] == [t.name for t in r.manifest.source.outputs] and len(v.outputs) == 2
    for o in v.outputs:  # per-frame outputs over whole sequences (sequence-major, state carried)
        assert o.cosine_mean >= 0.99, v.outputs
    decision = [o.top1_agreement for o in v.outputs if o.top1_agreement is not None]
    assert decision and decision[0] >= min_agreement, v.outputs  # speech / non-speech at 0.5
    assert r.manifest.validation_data.samples == 24  # sequences


def test_streaming_keras_vad_to_rpi_int8(vad, tmp_path):
    keras_path, _, train, test = vad
    r = kw.convert(keras_path, target="rpi", output_dir=tmp_path, calibration=train, eval_data=test,
                   precision="int8", state=["new_state:state"])
    _check_stream(r)
    # the harness benchmarks the artifact per frame with its state carried
    out = subprocess.run([sys.executable, "-m", "edgekit.runtimes.harness", str(r.artifact_paths[0]), "--runs", "5",
                          "--warmup", "1", "--state", "output_1:state", "--json", "-", "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["inputs"]["state"] == ["Identity_1:state"] and res["runs"] == 5 and res["outputs_finite"]


def test_streaming_onnx_vad_with_sample_rate_if_to_ort_int8(vad, tmp_path):
    _, onnx_path, train, test = vad
    assert "If" in {n.op_type for n in onnx.load(onnx_path).graph.node}
    r = kw.convert(onnx_path, target="x86-ort", output_dir=tmp_path, calibration=train, eval_data=test,
                   precision="int8", state=["new_state:state"], input_value={"sr": 16000},
                   emit_options={"calibration_method": "percentile"})
    _check_stream(r)
    art = onnx.load(r.artifact_paths[0])
    assert [i.name for i in art.graph.input] == ["frame", "state"]  # sr frozen and folded
    assert "If" not in {n.op_type for n in art.graph.node}
    assert any(n.op_type == "QuantizeLinear" for n in art.graph.node)
    assert [t.name for t in r.manifest.source.inputs] == ["frame", "state"]


def test_bad_names_and_state_pairs_list_the_model_io(digits2, vad, tmp_path):
    path, train, test, _ = digits2
    for extra, what in [({"input_shape": "nope:1,8,8,1"}, "no input 'nope'"),
                        ({"input_value": {"nope": 1}}, "no input 'nope'"),
                        ({"state": ["output_0:nope"]}, "no input 'nope'")]:
        with pytest.raises(ConfigError, match=what) as e:
            kw.convert(path, target="rpi", output_dir=tmp_path, calibration=train, **extra)
        assert "image (?,8,8,1) float32, features (?,16) float32; outputs: output_0 (?,10)" in str(e.value)
    with pytest.raises(ConfigError, match=r"output 'prob' \(\?,1\) float32 cannot feed input 'state' \(\?,24\)"):
        kw.convert(vad[0], target="rpi", output_dir=tmp_path, calibration=vad[2], state=["prob:state"])
    z = np.load(train)
    np.savez(tmp_path / "half.npz", image=z["image"])
    with pytest.raises(CalibrationError, match="no array for input 'features'.*the model's inputs: image"):
        kw.convert(path, target="rpi", output_dir=tmp_path, calibration=tmp_path / "half.npz")


def test_unequal_sequence_lengths_are_refused(tmp_path):
    specs = [TensorSpec("a", (None, 4)), TensorSpec("b", (None, 2)), TensorSpec("s", (None, 3))]
    stream = Stream(inputs=("a", "b", "s"), state=((1, "s"),), init=(np.zeros(3, np.float32),))
    np.savez(tmp_path / "d.npz", a=np.zeros((5, 10, 4)), b=np.zeros((5, 12, 2)))
    with pytest.raises(CalibrationError, match="unequal length T"):
        load_data(tmp_path / "d.npz", specs[:2], stream=stream)
    np.savez(tmp_path / "ok.npz", a=np.zeros((5, 10, 4)), b=np.ones((5, 10, 2)), y=np.zeros((5, 10)))
    ds = load_data(tmp_path / "ok.npz", specs[:2], stream=stream)
    assert len(ds) == 5 and ds.x.stream is stream and ds.y.shape == (5, 10)


def test_cli_exit_2_on_unknown_state_input(digits2, tmp_path):
    path, train, _, _ = digits2
    p = run_cli("convert", path, "-t", "rpi", "-o", tmp_path / "o", "--calibration", train, "--state", "output_0:h")
    assert p.returncode == 2
    assert "--state output_0:h: the model has no input 'h'" in p.stderr and "features (?,16)" in p.stderr


def test_cli_signature_picks_one_of_a_multi_signature_tflite(tmp_path):
    from test_models_tflite import _two_signatures

    p = tmp_path / "two.tflite"
    _two_signatures(p)
    r = run_cli("convert", p, "-t", "rpi", "-o", tmp_path / "none", "--precision", "dynamic")
    assert r.returncode == 2 and "2 signatures (relu, tanh); pick one with --signature NAME" in r.stderr
    r = run_cli("convert", p, "-t", "rpi", "-o", tmp_path / "o", "--precision", "dynamic", "--signature", "tanh", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["artifacts"][0]["quantizer"]["signature"] == "tanh" and m["options"]["signature"] == "tanh"
    assert m["validation"]["cosine"] >= 0.99


def test_keras_input_value_traces_the_constant(digits2, tmp_path):
    path, train, test, _ = digits2
    z = np.load(test)
    np.savez(tmp_path / "img.npz", x=z["image"], y=z["y"])  # the frozen input needs no data
    r = kw.convert(path, target="x86-ort", output_dir=tmp_path, calibration=tmp_path / "img.npz",
                   precision="int8", input_value={"features": 0.0})
    assert [t.name for t in r.manifest.source.inputs] == ["image"]
    assert [i.name for i in onnx.load(r.artifact_paths[0]).graph.input] == ["image"]
    assert r.manifest.artifacts[0].validation.cosine >= 0.99


def test_state_init_file_is_the_initial_state(vad, tmp_path):
    keras_path, _, train, test = vad
    args = dict(target="rpi", calibration=train, eval_data=test, precision="int8", state=["new_state:state"])
    np.savez(tmp_path / "zeros.npz", state=np.zeros((1, multi_nets.HIDDEN), np.float32))
    a = kw.convert(keras_path, output_dir=tmp_path / "a", **args)
    b = kw.convert(keras_path, output_dir=tmp_path / "b", state_init=tmp_path / "zeros.npz", **args)
    assert a.manifest.artifacts[0].sha256 == b.manifest.artifacts[0].sha256
    np.savez(tmp_path / "wrong.npz", h=np.zeros((1, 3)))
    with pytest.raises(CalibrationError, match="no array for input 'state'"):
        kw.convert(keras_path, output_dir=tmp_path / "c", state_init=tmp_path / "wrong.npz", **args)
