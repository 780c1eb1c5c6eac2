"""Where a benchmark ran, in words: the one machine label every report uses (bench, report, sweep)."""

from __future__ import annotations


def machine_label(where: dict | str | None) -> str:
    """``Cortex-A72 (aarch64, 4 cores, host pi)`` from a result's ``where``; a string is shown as it is."""
    if not isinstance(where, dict):
        return str(where or "unknown machine")
    what = where.get("board") or where.get("cpu") or "unknown CPU"
    return f"{what} ({where.get('arch', '?')}, {where.get('cores', '?')} cores, host {where.get('hostname', '?')})"


def is_local(where: dict) -> bool:
    return where.get("via", "local") == "local"


def where_line(result: dict) -> str:
    """One line saying where a result was measured, and that host latency is not a target's latency."""
    w = result["where"]
    if is_local(w):
        return (
            f"measured on THIS machine, {machine_label(w)}. Host latency is not the latency of a Raspberry Pi or any "
            "other target: measure there with --device ssh://user@device or the harness (edgekit harness)"
        )
    return f"measured on the device {w['via']}, {machine_label(w)}"
