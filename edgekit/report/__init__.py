"""``edgekit report``: accuracy, fidelity, size and latency of every artifact of a build folder, checked
against the config's thresholds and a saved baseline, written as Markdown, HTML, JSON and JUnit XML.

One registry, :data:`edgekit.registry.REPORT_FORMATS`: format name -> "module:function" + file name; a renderer takes the
report dict (the JSON format, :func:`make_report`) and returns the file's text.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.errors import ConfigError
from edgekit.registry import REPORT_FORMATS

REPORT_SCHEMA = "edgekit.report/1"


def get_renderer(fmt: str):
    return REPORT_FORMATS.get(fmt)


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def make_report(build_dir: str | Path, *, baseline: str | Path | None = None, bench: list[str | Path] | None = None) -> dict:
    """Collect the rows of ``build_dir``, run the checks; broken checks come first in ``failures``."""
    from edgekit.workflows.build.index import read_index
    from edgekit.report.checks import evaluate, load_baseline
    from edgekit.report.collect import load_bench, rows_of

    build_dir = Path(build_dir)
    index = read_index(build_dir)
    notes: list[str] = []
    rows = rows_of(index, load_bench(build_dir, [Path(b) for b in bench or ()], notes))
    base = load_baseline(baseline) if baseline is not None else None
    base_arts = base["artifacts"] if base else {}
    failures = []
    if not index["complete"]:
        failures.append({"artifact": "(build)", "check": "complete", "message": "the build did not finish; rebuild"})
    for r in rows:
        r["baseline"] = base_arts.get(r["key"])
        r["checks"] = evaluate(r, r["baseline"], base is not None)
        failures += [{"artifact": r["key"], "check": c["name"], "message": c["message"]} for c in r["checks"] if c["status"] == "fail"]
    rows.sort(key=lambda r: (not any(c["status"] == "fail" for c in r["checks"]), r["key"]))
    statuses = [c["status"] for r in rows for c in r["checks"]]
    keys = {r["key"] for r in rows}
    return {
        "schema": REPORT_SCHEMA,
        "passed": not failures,
        "build": {
            "dir": str(build_dir),
            "complete": index["complete"],
            "config": index["config"],
            "summary": index["summary"],
            "tool_versions": index.get("tool_versions"),
        },
        "baseline": None if base is None else {"path": str(baseline), "artifacts": len(base_arts)},
        "summary": {
            "artifacts": sum(r["format"] is not None for r in rows),
            "failed_cells": sum(r["format"] is None for r in rows),
            "checks": len(statuses),
            **{s: statuses.count(s) for s in ("pass", "fail", "skip")},
        },
        "failures": failures,
        "not_in_build": sorted(k for k in base_arts if k not in keys),
        "notes": notes,
        "rows": rows,
    }


def parse_formats(text: str) -> list[str]:
    fmts = [f.strip() for f in text.split(",") if f.strip()]
    if not fmts:
        raise ConfigError(f"--format: choose one or more of {', '.join(REPORT_FORMATS.names())}, comma-separated")
    for f in fmts:
        get_renderer(f)
    return list(dict.fromkeys(fmts))


def write_report(report: dict, formats: list[str], output_dir: str | Path) -> list[Path]:
    """Render every format first, then write each file atomically."""
    from edgekit.hashing import atomic_write_bytes

    texts = {f: get_renderer(f)(report) for f in formats}
    paths = []
    for f, text in texts.items():
        p = Path(output_dir) / REPORT_FORMATS.meta(f)["file"]
        atomic_write_bytes(p, text.encode("utf-8"))
        paths.append(p)
    return paths
