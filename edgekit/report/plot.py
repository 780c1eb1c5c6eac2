"""Accuracy vs size (and vs latency, when bench results exist) as a PNG, drawn with matplotlib's Agg canvas
directly: no pyplot, no global backend switch, no display needed."""

from __future__ import annotations

import base64
import io


def accuracy_png(rows: list[dict]) -> bytes | None:
    """PNG bytes, or None when no artifact has an accuracy (no labelled eval data)."""
    pts = [r for r in rows if r["format"] is not None and r.get("accuracy")]
    if not pts:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    lat = [(r, x) for r in pts for x in r.get("latency") or []]
    fig = Figure(figsize=(11 if lat else 6.5, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if lat else 1, squeeze=False)[0]
    one_format = len({(r["cell"], r["format"]) for r in pts}) == len({r["cell"] for r in pts})
    label = {id(r): r["cell"] if one_format else r["key"] for r in pts}
    targets = sorted({r["target"] for r in pts})
    colors = {t: f"C{i % 10}" for i, t in enumerate(targets)}

    ax = axes[0]
    for r in pts:
        ax.scatter(r["bytes"] / 1024, r["accuracy"]["artifact"] * 100, color=colors[r["target"]], s=36)
        ax.annotate(label[id(r)], (r["bytes"] / 1024, r["accuracy"]["artifact"] * 100), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("artifact size (KiB, log)")
    ax.set_ylabel("artifact accuracy (%)")
    ax.set_title("accuracy vs size")
    for t in targets:
        ax.scatter([], [], color=colors[t], label=t)
    ax.legend(fontsize=8, title="target", title_fontsize=8)
    ax.grid(alpha=0.3)

    if lat:
        ax = axes[1]
        wheres = sorted({x["where"] for _, x in lat})
        markers = "osD^v<>ph*"
        for r, x in lat:
            m = markers[wheres.index(x["where"]) % len(markers)]
            ax.scatter(x["p50_ms"], r["accuracy"]["artifact"] * 100, color=colors[r["target"]], marker=m, s=36)
            ax.annotate(label[id(r)], (x["p50_ms"], r["accuracy"]["artifact"] * 100), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        for i, w in enumerate(wheres):
            ax.scatter([], [], color="gray", marker=markers[i % len(markers)], label=w)
        ax.set_xlabel("latency p50 (ms), measured where the legend says")
        ax.set_title("accuracy vs latency")
        ax.legend(fontsize=7, title="measured on", title_fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
