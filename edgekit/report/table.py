"""The artifact table both the Markdown and the HTML report show: one column list, plain-text cells."""

from __future__ import annotations

DASH = "–"


def _pct(v) -> str:
    return DASH if v is None else f"{v:.2%}"


def _acc(r, k):
    return _pct(r["accuracy"][k]) if r.get("accuracy") else DASH


def _drop(r) -> str:
    return f"{r['accuracy']['drop'] * 100:+.2f} pt" if r.get("accuracy") else DASH


def _vs_base_acc(r) -> str:
    b = r.get("baseline")
    if not b or b.get("accuracy") is None or not r.get("accuracy"):
        return DASH
    return f"{(r['accuracy']['artifact'] - b['accuracy']) * 100:+.2f} pt"


def _size(r) -> str:
    return f"{r['bytes'] / 1024:,.1f} KiB"


def _vs_base_size(r) -> str:
    b = r.get("baseline")
    return DASH if not b else f"{(r['bytes'] - b['bytes']) / b['bytes']:+.1%}"


def latency_text(r) -> str:
    lat = r.get("latency") or []
    return "; ".join(f"{x['p50_ms']:.3f} ms ({x['runtime']}, {x['threads']} thr, {x['where']})" for x in lat) or DASH


def status_text(r) -> str:
    checks = r["checks"]
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    if failed:
        return "FAIL: " + ", ".join(failed)
    skipped = sum(c["status"] == "skip" for c in checks)
    return "pass" + (f" ({skipped} skipped)" if skipped else "")


# (header, cell text); a failed cell's row shows its key and status only
COLUMNS = [
    ("artifact", lambda r: r["key"]),
    ("precision", lambda r: r["precision"]),
    ("source acc.", lambda r: _acc(r, "source")),
    ("artifact acc.", lambda r: _acc(r, "artifact")),
    ("drop", _drop),
    ("vs baseline", _vs_base_acc),
    ("cosine", lambda r: f"{r['cosine']:.6f}"),
    ("top-1 agree", lambda r: _pct(r["top1_agreement"])),
    ("size", _size),
    ("size vs baseline", _vs_base_size),
    ("latency p50 (where)", latency_text),
    ("status", status_text),
]


def cells(row: dict) -> list[str]:
    if row["format"] is None:
        return [row["key"]] + [DASH] * (len(COLUMNS) - 2) + [status_text(row)]
    return [fn(row) for _, fn in COLUMNS]


def headline(report: dict) -> str:
    s = report["summary"]
    if report["passed"]:
        return f"all {s['pass']} checks passed" + (f" ({s['skip']} skipped)" if s["skip"] else "")
    return f"{len(report['failures'])} check(s) failed, {s['pass']} passed" + (f", {s['skip']} skipped" if s["skip"] else "")


def context_lines(report: dict) -> list[str]:
    b = report["build"]
    lines = [
        f"{report['summary']['artifacts']} artifact(s) from {b['summary']['cells']} cell(s) in {b['dir']} "
        f"({b['summary']['built']} built, {b['summary']['cached']} cached, {b['summary']['failed']} failed)",
        f"baseline: {report['baseline']['path']} ({report['baseline']['artifacts']} artifacts)"
        if report["baseline"]
        else "baseline: none (pass --baseline FILE to check regressions)",
    ]
    lat = {x["where"] for r in report["rows"] for x in r.get("latency") or []}
    lines.append(
        "latency measured on: " + "; ".join(sorted(lat)) if lat else "latency: no bench results (edgekit bench --json into build/bench/)"
    )
    if report["not_in_build"]:
        lines.append("in the baseline but not in this build: " + ", ".join(report["not_in_build"]))
    lines += report["notes"]
    return lines
