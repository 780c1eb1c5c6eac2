"""Legacy SavedModel fallback: a SavedModel written by Keras 2 (tf_keras) after real training steps, optimizer
state (OptimizerV2 Adam slots) included — TF 2.21's object-graph loader refuses it. The fixture is committed
(156 KB); tests/fixtures/make_legacy_savedmodel.py regenerates it (see its docstring)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from kw import convert
from edgekit.errors import ConfigError, ModelLoadError
from edgekit.models import load_model
from edgekit.models.savedmodel import LOADER_TF1, LOADER_TF2, load_v1
from edgekit.quantize.tflite import convert as to_tflite
from edgekit.runtimes import open_runner
from edgekit.targets import Precision
from edgekit.fidelity.metrics import fidelity, predict_runner

LEGACY = Path(__file__).parent / "fixtures" / "legacy_keras2_savedmodel"


@pytest.fixture(scope="module")
def fashion_eval(fashion, tmp_path_factory):
    (x_train, _), (x_test, y_test) = fashion
    root = tmp_path_factory.mktemp("legacy_sm")
    calib, ev = root / "calib.npz", root / "eval.npz"
    np.savez(calib, x=(x_train[-300:, ..., None] / 255.0).astype("float32"))
    np.savez(ev, x=(x_test[:300, ..., None] / 255.0).astype("float32"), y=y_test[:300].astype("int64"))
    return calib, ev


def test_object_graph_loader_fails_and_v1_loader_is_used():
    if importlib.util.find_spec("tf_keras") is not None:  # tf_keras registers the optimizer: no failure then
        assert load_model(LEGACY).loader == LOADER_TF2
    else:
        m = load_model(LEGACY)
        assert m.loader == LOADER_TF1
        assert any("add_slot" in n for n in m.notes), m.notes
    m = load_v1(LEGACY, sha256="x")
    assert m.loader == LOADER_TF1 and m.tflite_converter is not None
    assert [(t.name, t.shape) for t in m.inputs] == [("input_1", (None, 28, 28, 1))]
    assert [(t.name, t.shape) for t in m.outputs] == [("dense", (None, 10))]


def test_v1_model_predicts_trained_classes(fashion_eval):
    _, ev = fashion_eval
    with np.load(ev) as z:
        x, y = z["x"], z["y"]
    m = load_v1(LEGACY, sha256="x")
    (p,) = m.predict([x])
    assert p.shape == (300, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert (p.argmax(1) == y).mean() > 0.5  # really trained (10 classes: chance is 0.1)


def test_legacy_savedmodel_to_android_gpu_fp16(fashion_eval, tmp_path):
    _, ev = fashion_eval
    r = convert(LEGACY, target="android-gpu", output_dir=tmp_path, eval_data=ev)
    m = r.manifest.to_json()
    art = m["artifacts"][0]
    assert m["source"]["format"] == "savedmodel" and art["precision"] == "fp16"
    if importlib.util.find_spec("tf_keras") is None:
        assert m["source"]["loader"] == LOADER_TF1
    assert m["validation"]["cosine"] >= 0.999, m["validation"]
    assert m["validation"]["top1_agreement"] >= 0.99


@pytest.mark.parametrize("precision", list(Precision))
def test_v1_model_converts_at_every_precision(precision, fashion_eval):
    calib, ev = fashion_eval
    with np.load(calib) as z:
        cx = z["x"][:100]
    with np.load(ev) as z:
        x = z["x"][:100]
    m = load_v1(LEGACY, sha256="x")
    data = to_tflite(m, precision, io_dtype="float32", calibration=cx)
    with open_runner("litert", data, threads=1) as rt:
        f = fidelity(m.predict([x]), predict_runner(rt, x))
    floor = 0.999 if precision in (Precision.FP32, Precision.FP16) else 0.98
    assert f.cosine >= floor and f.top1_agreement >= 0.9, (precision, f)


def test_v1_model_to_onnx_is_refused_with_a_reason(tmp_path):
    with pytest.raises(ConfigError, match="read by tf1-graph-session.*--format tflite"):
        convert(LEGACY, target="x86-ort", output_dir=tmp_path, precision="fp32", model=load_v1(LEGACY, sha256="x"))
    assert not list(tmp_path.iterdir())


def test_broken_savedmodel_names_both_loaders(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match="v1 loader") as e:
        load_model(bad)
    assert "\n" not in str(e.value)
