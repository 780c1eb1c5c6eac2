"""Per-layer quantization error for TFLite (TF's QuantizationDebugger) and ONNX (ORT QDQ tensor matching),
and its JSON / CSV / PNG / Model Explorer writers."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from sensitive_nets import FASHION, Encoder

from edgekit.fidelity.layers import LayerReport
from edgekit.fidelity.write import CSV_FIELDS, write_layer_report


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (run .ci/setup)")
    return Encoder(tmp_path_factory.mktemp("encoder"), n_eval=20)


def _sane(report: LayerReport):
    assert len(report.layers) > 20
    for e in report.layers:
        assert all(math.isfinite(v) for v in (e.cosine, e.max_abs_error, e.rel_error)), e
        assert e.rel_error >= 0 and e.max_abs_error >= 0 and -1.0001 <= e.cosine <= 1.0001
        assert e.scale is None or e.scale > 0
    top = report.ranked()[0]
    assert top.rel_error == max(e.rel_error for e in report.layers) and top.rel_error > 0.05


def test_tflite_layer_report_names_layers_the_converter_can_denylist(enc):
    hook = enc.tflite_hook()
    report = hook.layer_report()
    assert report.format == "tflite" and report.compare == "local" and report.samples == len(enc.x)
    _sane(report)
    # rounding noise of a well-quantized tensor is 1/sqrt(12) = 0.29 scale steps: most layers are near it
    ros = sorted(e.rmse_over_scale for e in report.layers if e.rmse_over_scale)
    assert 0.1 < ros[len(ros) // 2] < 1.0
    # a name from the report, denylisted, changes the artifact (the converter knows the name)
    top = report.ranked()[0].name
    assert hook.quantize(frozenset({top})) != hook.quantize(frozenset())


def test_onnx_layer_report_matches_activations_with_the_float_graph(enc, tmp_path):
    hook = enc.onnx_hook()
    report = hook.layer_report()
    assert report.format == "onnx" and report.compare == "model"
    _sane(report)
    float_tensors = {o for n in hook.proto.graph.node for o in n.output}
    assert {e.name for e in report.layers} <= float_tensors
    paths = write_layer_report(report, tmp_path)
    assert LayerReport.model_validate(json.loads(paths["json"].read_text())) == report
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert tuple(rows[0]) == CSV_FIELDS and [r["name"] for r in rows] == [e.name for e in report.layers]
    assert paths["png"].read_bytes().startswith(b"\x89PNG")
    overlay = json.loads(paths["overlay"].read_text())
    assert set(overlay["main"]["results"]) == {e.name for e in report.layers}
