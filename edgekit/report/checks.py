"""Threshold checks per artifact, and the baseline file they compare against.

A check is set by a threshold in the build config (copied per cell into ``index.json``); an unset threshold
is not checked. A check whose data is missing (no labels, no baseline entry, no comparable latency) is
"skip" with the reason. Every failed cell is a failed ``build`` check.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.errors import ConfigError
from edgekit.fidelity.gate import check_max, check_min, fidelity_checks, points
from edgekit.hashing import atomic_write_json

BASELINE_SCHEMA = "edgekit.baseline/1"


def _check(name, status, message, value=None, limit=None) -> dict:
    return {"name": name, "status": status, "value": value, "limit": limit, "message": message}


def _max_check(name: str, value, limit: float, what: str, fmt) -> dict:
    return check_max(name, value, limit, what, fmt).model_dump()


def _growth(v: float) -> str:
    return f"{v:+.1%}"


def evaluate(row: dict, base: dict | None, have_baseline: bool) -> list[dict]:
    """The checks of one report row (``base``: its baseline entry, if any)."""
    if row["format"] is None:
        return [_check("build", "fail", f"the cell failed to build: {row['error']}")]
    th = row["thresholds"]
    checks = [_check("build", "pass", "built and validated" + (" (cached)" if row["cached"] else ""))]
    acc = row["accuracy"]
    no_base = "no baseline given (--baseline FILE)" if not have_baseline else "new artifact: not in the baseline"

    checks += [c.model_dump() for c in fidelity_checks(
        cosine=row["cosine"], top1_agreement=row["top1_agreement"], accuracy=acc,
        min_cosine=th.get("min_cosine"), max_accuracy_drop=th.get("max_accuracy_drop"),
        min_top1_agreement=th.get("min_top1_agreement"),
    )]
    gate = row.get("gate")
    if gate is not None and not gate["passed"]:  # the artifact missed its own fidelity budget at conversion
        failed = "; ".join(f"{c['name']}: {c['message']}" for c in gate["checks"] if c["status"] == "fail")
        checks.append(_check("fidelity_gate", "fail", f"the artifact missed its fidelity budget: {failed}"))
    if "min_accelerated_fraction" in th:
        frac = row.get("accelerated_fraction")
        if frac is None:
            checks.append(_check("accelerated_fraction", "skip", "no placement for this target (no accelerator)"))
        else:
            checks.append(check_min("accelerated_fraction", frac, th["min_accelerated_fraction"],
                                    f"share of ops on the accelerator ({row.get('placement')})").model_dump())
    if "max_baseline_accuracy_drop" in th:
        if base is None or acc is None or base.get("accuracy") is None:
            checks.append(_check("baseline_accuracy_drop", "skip", no_base if base is None else "no accuracy to compare"))
        else:
            drop = base["accuracy"] - acc["artifact"]
            checks.append(
                _max_check("baseline_accuracy_drop", drop, th["max_baseline_accuracy_drop"],
                           f"accuracy {acc['artifact']:.2%} vs baseline {base['accuracy']:.2%}: drop", points)
            )
    if "max_size_growth" in th:
        if base is None:
            checks.append(_check("size_growth", "skip", no_base))
        else:
            growth = (row["bytes"] - base["bytes"]) / base["bytes"]
            checks.append(
                _max_check("size_growth", growth, th["max_size_growth"], f"{row['bytes']:,} bytes vs baseline {base['bytes']:,}:", _growth)
            )
    if "max_latency_growth" in th:
        checks.append(_latency_check(row, base, th["max_latency_growth"], no_base))
    return checks


def _latency_check(row: dict, base: dict | None, limit: float, no_base: str) -> dict:
    if not row["latency"]:
        return _check("latency_growth", "skip", "no bench result for this artifact (edgekit bench --json into build/bench/)")
    if base is None:
        return _check("latency_growth", "skip", no_base)
    before = {b["machine"]: b for b in base.get("latency") or []}
    pairs = [(r, before[r["machine"]]) for r in row["latency"] if r["machine"] in before]
    if not pairs:
        return _check("latency_growth", "skip", "no baseline latency measured on the same kind of machine, runtime and threads")
    r, b = max(pairs, key=lambda p: p[0]["p50_ms"] / p[1]["p50_ms"])
    growth = r["p50_ms"] / b["p50_ms"] - 1
    return _max_check(
        "latency_growth", growth, limit, f"p50 {r['p50_ms']:.3f} ms vs baseline {b['p50_ms']:.3f} ms on {r['where']}:", _growth
    )


def load_baseline(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"baseline {path} not found; write one with `edgekit report BUILD_DIR --save-baseline {path}`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"baseline {path}: unreadable ({exc}); write it again with --save-baseline") from None
    if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA or not isinstance(data.get("artifacts"), dict):
        raise ConfigError(f"baseline {path}: not an {BASELINE_SCHEMA} file; write one with --save-baseline")
    return data


def baseline_of(rows: list[dict]) -> dict:
    """The baseline a build's report rows make (sorted, no timestamps: diffs well in git)."""
    from edgekit import __version__

    arts = {}
    for r in sorted(rows, key=lambda r: r["key"]):
        if r["format"] is None:
            continue
        acc = r["accuracy"]
        arts[r["key"]] = {
            "sha256": r["sha256"],
            "bytes": r["bytes"],
            "precision": r["precision"],
            "accuracy": None if acc is None else acc["artifact"],
            "source_accuracy": None if acc is None else acc["source"],
            "cosine": r["cosine"],
            "top1_agreement": r["top1_agreement"],
            "latency": [{k: x[k] for k in ("machine", "where", "runtime", "p50_ms")} for x in r["latency"]],
        }
    return {"schema": BASELINE_SCHEMA, "edgekit_version": __version__, "artifacts": arts}


def save_baseline(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_json(path, baseline_of(rows))
    return path
