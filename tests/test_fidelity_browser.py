"""The HTML report and the fidelity plots rendered in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from browser import chromium, decode_png, non_blank, screenshot
from ci_example import copy_example
from typer.testing import CliRunner

from edgekit.workflows.build.runner import build
from edgekit.cli import app

pytestmark = pytest.mark.skipif(chromium() is None, reason="Debian package chromium is not installed (run .ci/setup as root)")


def _pinned(png: bytes, folder, name: str):
    """A page holding only ``png`` at the top-left at its natural size, for a pixel comparison."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    page = folder / f"{name}.html"
    page.write_text(f'<!DOCTYPE html><html><body style="margin:0;background:#fff">'
                    f'<img style="position:absolute;top:0;left:0" src="{uri}"></body></html>')
    return page


def _renders_like(png: bytes, folder, name: str) -> None:
    want = decode_png(png)
    assert non_blank(want), f"{name}: the PNG itself is blank"
    h, w = want.shape[:2]
    shot = screenshot(_pinned(png, folder, name), folder / f"{name}.shot.png", (w + 40, h + 40))
    got = shot[:h, :w].astype(np.int16)
    assert non_blank(shot[:h, :w]), f"{name}: the browser drew a blank image"
    assert float(np.abs(got - want.astype(np.int16)).mean()) < 8.0, f"{name}: the browser did not draw the PNG"


def test_the_html_report_renders_in_chromium_with_its_plot(tmp_path):
    build(copy_example(tmp_path), tmp_path / "build")
    res = CliRunner().invoke(app, ["report", str(tmp_path / "build"), "--format", "html", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    page = tmp_path / "r" / "report.html"
    html = page.read_text()
    shot = screenshot(page, tmp_path / "report.png", (1200, 1600))
    assert non_blank(shot)
    # the heading is drawn in the pass colour (#1a7f37): the stylesheet applied and text rendered
    assert (np.abs(shot.astype(np.int16) - (0x1A, 0x7F, 0x37)).sum(axis=2) < 40).sum() > 200
    pngs = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    assert pngs, "the report embeds no plot"
    for i, png in enumerate(pngs):
        _renders_like(png, tmp_path, f"report-plot-{i}")


@pytest.fixture
def fidelity_outputs(tmp_path):
    """The per-layer plot and the trade-off curve of the committed example CNN (examples/ci)."""
    from ci_example import EXAMPLE

    from edgekit.fidelity.hooks import TfliteHook
    from edgekit.fidelity.mixed import Budget, search
    from edgekit.fidelity.write import write_layer_report, write_search
    from edgekit.models import load_model
    from edgekit.fidelity.metrics import predict_source

    model = load_model(EXAMPLE / "models" / "digits_cnn.keras")
    with np.load(EXAMPLE / "data" / "calibration.npz") as z:
        cal = z["x"][:100]
    with np.load(EXAMPLE / "data" / "test.npz") as z:
        x = z["x"][:100]
    hook = TfliteHook(model, cal, x, predict_source(model, x))
    report = hook.layer_report()
    ranked = [e.name for e in report.ranked()]
    result, _ = search(ranked, hook, Budget(min_cosine=0.99999), mode="float", fallbacks={"fp16": hook.fp16})
    out = tmp_path / "fidelity"
    return {"layers": write_layer_report(report, out)["png"], "curve": write_search(result, out)["png"]}


def test_the_fidelity_plots_render_in_chromium(fidelity_outputs, tmp_path):
    for name, path in fidelity_outputs.items():
        _renders_like(path.read_bytes(), tmp_path, name)
