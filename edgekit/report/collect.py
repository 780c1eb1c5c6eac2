"""Rows of a report: one per artifact of a build folder (and one per failed cell), with the latency of every
``edgekit bench --json`` result (schema ``edgekit.bench/1``) whose model hash matches the artifact."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.bench.where import machine_label
from edgekit.errors import ConfigError

BENCH_SCHEMA = "edgekit.bench/1"
BENCH_DIR = "bench"


def machine_id(result: dict) -> str:
    """What must match for two latencies to be comparable: hardware, runtime, accelerator and threads.
    Not the hostname (CI runners get a fresh one every run) and not the runtime's version."""
    w = result.get("where")
    rt = result.get("runtime") or {}
    hw = "|".join(str(w.get(k)) for k in ("arch", "cpu", "board", "cores")) if isinstance(w, dict) else str(w)
    return f"{hw}|{rt.get('name')}|{rt.get('accelerator')}|threads={result.get('threads')}"


def _read_bench(path: Path, explicit: bool, notes: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        if explicit:
            raise ConfigError(f"--bench {path}: unreadable ({exc}); pass a file written by `edgekit bench --json`") from None
        notes.append(f"skipped {path}: unreadable ({exc})")
        return None
    ok = isinstance(data, dict) and data.get("schema") == BENCH_SCHEMA
    if not ok:
        if explicit:
            raise ConfigError(f"--bench {path}: not an {BENCH_SCHEMA} result; pass a file written by `edgekit bench --json`")
        notes.append(f"skipped {path}: not an {BENCH_SCHEMA} result")
        return None
    return data


def load_bench(build_dir: Path, files: list[Path] | None, notes: list[str]) -> dict[str, list[dict]]:
    """Latencies by artifact sha256, from ``build_dir/bench/**/*.json`` and the files passed explicitly."""
    found = [(p, False) for p in sorted((build_dir / BENCH_DIR).rglob("*.json"))] if (build_dir / BENCH_DIR).is_dir() else []
    found += [(Path(p), True) for p in files or ()]
    by_sha: dict[str, list[dict]] = {}
    seen = set()
    for path, explicit in found:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        data = _read_bench(path, explicit, notes)
        if data is None:
            continue
        lat = data.get("latency_ms") or {}
        sha = (data.get("model") or {}).get("sha256")
        if not sha or lat.get("p50") is None:
            notes.append(f"skipped {path}: no model.sha256 or no latency_ms.p50 (an interrupted run?)")
            continue
        rt = data.get("runtime") or {}
        by_sha.setdefault(sha, []).append(
            {
                "p50_ms": float(lat["p50"]),
                "p90_ms": lat.get("p90"),
                "where": machine_label(data.get("where")),
                "machine": machine_id(data),
                "runtime": f"{rt.get('name', '?')} {rt.get('version', '')}".strip(),
                "threads": data.get("threads"),
                "file": str(path),
            }
        )
    return by_sha


def rows_of(index: dict, bench: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for cell in index["cells"]:
        base = {k: cell[k] for k in ("model", "target", "variant")} | {"cell": cell["id"]}
        if cell["status"] == "failed":
            rows.append({**base, "key": cell["id"], "format": None, "error": cell["error"], "thresholds": cell["thresholds"]})
            continue
        for a in cell["artifacts"]:
            v = a["validation"]
            rows.append(
                {
                    **base,
                    "key": f"{cell['id']}:{a['format']}",
                    "format": a["format"],
                    "precision": a["precision"],
                    "path": a["path"],
                    "sha256": a["sha256"],
                    "bytes": a["bytes"],
                    "accuracy": v.get("accuracy"),
                    "cosine": v["cosine"],
                    "top1_agreement": v["top1_agreement"],
                    "max_abs_error": v["max_abs_error"],
                    "gate": a.get("gate"),
                    "accelerated_fraction": (a.get("placement") or {}).get("accelerated_fraction"),
                    "placement": (a.get("placement") or {}).get("summary_line"),
                    "runtime": v.get("runtime"),
                    "latency": sorted(bench.get(a["sha256"], []), key=lambda r: (r["where"], r["p50_ms"])),
                    "cached": cell["cached"],
                    "error": None,
                    "thresholds": cell["thresholds"],
                }
            )
    return rows
