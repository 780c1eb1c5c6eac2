"""Writers for the per-layer report (JSON, CSV, PNG, Model Explorer overlay) and the mixed-precision
trade-off curve (JSON, PNG). Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no display);
every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from edgekit.fidelity.layers import LayerReport
from edgekit.fidelity.mixed import MixedResult
from edgekit.hashing import atomic_write_bytes

CSV_FIELDS = ("name", "op", "scale", "rmse_over_scale", "cosine", "max_abs_error", "rel_error", "elements")


def layer_csv(report: LayerReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for e in report.layers:
        w.writerow([getattr(e, f) for f in CSV_FIELDS])
    return buf.getvalue()


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def layer_png(report: LayerReport, top: int = 30) -> bytes:
    """The ``top`` most sensitive layers: relative error (bars) and cosine (dots), most sensitive on top."""
    rows = report.ranked()[:top][::-1]
    fig = _figure(10, max(3.0, 0.28 * len(rows) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = range(len(rows))
    ax.barh(list(y), [e.rel_error for e in rows], color="C3", label="relative error (per channel)")
    ax.set_yticks(list(y), [f"{e.op} {e.name[-48:]}" for e in rows], fontsize=7)
    ax.set_xlabel("relative RMS error (per-channel mean)")
    ax2 = ax.twiny()
    ax2.plot([e.cosine for e in rows], list(y), "o", color="C0", label="cosine vs float")
    ax2.set_xlabel(f"cosine vs float ({report.compare})", color="C0")
    ax.set_title(f"{report.format}: {len(report.layers)} quantized layers, {report.samples} samples", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def curve_png(result: MixedResult) -> bytes:
    """Layers kept vs cosine (with the budget line) and vs artifact size."""
    pts = sorted(result.curve, key=lambda p: (p.variant not in ("int8", "mixed"), p.layers_kept))
    fig = _figure(11, 4.2)
    ax, bx = fig.subplots(1, 2)
    for p in pts:
        color = "C2" if p.passed else "C3"
        ax.scatter(p.layers_kept, p.measured.cosine, color=color, s=30)
        bx.scatter(p.measured.bytes / 1024, p.measured.cosine, color=color, s=30)
        bx.annotate(p.variant if p.variant not in ("int8", "mixed") else str(p.layers_kept),
                    (p.measured.bytes / 1024, p.measured.cosine), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for a in (ax, bx):
        a.axhline(result.budget.min_cosine, color="gray", ls="--", lw=1, label=f"budget {result.budget.min_cosine}")
        a.set_ylabel("cosine vs source (validation)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    ax.set_xlabel(f"layers kept in higher precision ({result.mode or 'none'})")
    ax.set_title("fidelity vs layers kept (green: meets the budget)", fontsize=9)
    bx.set_xlabel("artifact size (KiB)")
    bx.set_title(f"fidelity vs size; chosen: {result.variant}, {len(result.kept)} kept", fontsize=9)
    return _png(fig)


def overlay(report: LayerReport, graph_id: str = "main") -> dict:
    """Per-node data for Google's Model Explorer (``ai-edge-model-explorer`` node data JSON): the relative
    error of each layer, keyed by its output tensor name."""
    results = {e.name: {"value": e.rel_error} for e in report.layers}
    return {graph_id: {"results": results}}


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def layer_report_files(report: LayerReport, stem: str = "layers") -> dict[str, tuple[str, bytes]]:
    """The per-layer report's files in memory: kind -> (file name, bytes)."""
    return {"json": (f"{stem}.json", _json(report.model_dump(mode="json"))),
            "csv": (f"{stem}.csv", layer_csv(report).encode()), "png": (f"{stem}.png", layer_png(report)),
            "overlay": (f"{stem}.overlay.json", _json(overlay(report)))}


def search_files(result: MixedResult, stem: str = "mixed_precision") -> dict[str, tuple[str, bytes]]:
    """The trade-off curve's files in memory: kind -> (file name, bytes)."""
    return {"json": (f"{stem}.json", _json(result.model_dump(mode="json"))), "png": (f"{stem}.png", curve_png(result))}


def _write(files: dict[str, tuple[str, bytes]], out_dir: Path) -> dict[str, Path]:
    paths = {}
    for kind, (name, data) in files.items():
        paths[kind] = Path(out_dir) / name
        atomic_write_bytes(paths[kind], data)
    return paths


def write_layer_report(report: LayerReport, out_dir: Path, stem: str = "layers") -> dict[str, Path]:
    return _write(layer_report_files(report, stem), out_dir)


def write_search(result: MixedResult, out_dir: Path, stem: str = "mixed_precision") -> dict[str, Path]:
    return _write(search_files(result, stem), out_dir)
