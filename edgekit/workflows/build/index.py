"""``index.json``: the one file that lists every cell of a build folder, its cache key, status and artifacts.

Paths in the index are relative to the build folder (``cells/<cell-id>/<artifact>``), so a build folder can
be moved, uploaded and merged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgekit.errors import ConfigError
from edgekit.hashing import atomic_write_json
from edgekit.manifest import tool_versions

INDEX_FILE = "index.json"
INDEX_SCHEMA = "edgekit.build-index/1"
CELLS_DIR = "cells"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): the second of four shards (1-based, like CI matrix cells)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 2/4")
    return int(m.group(1)), int(m.group(2))


def shard_of(ids: list[str], shard: tuple[int, int] | None) -> list[str]:
    """Deterministic partition: the sorted cell ids dealt round-robin over N shards."""
    ids = sorted(ids)
    if shard is None:
        return ids
    k, n = shard
    return [c for i, c in enumerate(ids) if i % n == k - 1]


def owner_shard(cell: str, ids: list[str], count: int) -> int:
    return sorted(ids).index(cell) % count + 1


def summary(cells: list[dict]) -> dict:
    count = {s: sum(c["status"] == s for c in cells) for s in ("built", "cached", "failed")}
    return {"cells": len(cells), **count, "artifacts": sum(len(c.get("artifacts") or []) for c in cells)}


def make_index(
    *, config: dict, matrix: list[str], cells: dict[str, dict], shard, complete: bool, tools: dict | None = None, **extra
) -> dict:
    entries = [cells[k] for k in sorted(cells)]
    return {
        "schema": INDEX_SCHEMA,
        "complete": complete,
        "config": config,
        "shard": None if shard is None else {"index": shard[0], "count": shard[1]},
        "matrix": sorted(matrix),
        "summary": summary(entries),
        **extra,
        "cells": entries,
        "tool_versions": tools or tool_versions(),
    }


def write_index(build_dir: Path, index: dict) -> Path:
    path = Path(build_dir) / INDEX_FILE
    atomic_write_json(path, index)
    return path


def read_index(build_dir: str | Path, *, required: bool = True) -> dict | None:
    """The index of a build folder; ConfigError (or None when not ``required``) if absent or unreadable."""
    path = Path(build_dir) / INDEX_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if not required:
            return None
        raise ConfigError(f"{path} not found: pass a folder written by `edgekit build` (or `edgekit merge`)") from None
    except (OSError, ValueError) as exc:
        if not required:
            return None
        raise ConfigError(f"{path}: unreadable ({exc}); rebuild with `edgekit build`") from None
    if not isinstance(data, dict) or data.get("schema") != INDEX_SCHEMA:
        if not required:
            return None
        raise ConfigError(f"{path}: not an edgekit build index (schema {INDEX_SCHEMA!r} expected)")
    return data
