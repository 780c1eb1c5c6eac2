"""``edgekit build``: every cell of the matrix (or of one shard) -> ``cells/<cell-id>/`` + ``index.json``.

Each cell is converted by :func:`edgekit.api.convert` into a temp folder beside its final place and renamed
into place only when complete; ``index.json`` is rewritten atomically after every cell. A build killed at
any point leaves the previous cells and an index that matches them; the next build cleans up and goes on.
A failed cell is recorded with its error and the others still build.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.workflows.build import cache
from edgekit.workflows.build.config import Cell, expand, load_config
from edgekit.workflows.build.index import CELLS_DIR, make_index, read_index, shard_of, write_index
from edgekit.errors import ConfigError, EdgekitError
from edgekit.hashing import atomic_write_bytes, atomic_write_json
from edgekit.manifest import Manifest

Event = Callable[[str, str, str], None]  # (kind, cell id, detail): start | stage | built | cached | failed


def _quiet(kind: str, cell: str, detail: str) -> None:
    pass


@dataclass
class BuildResult:
    index: dict
    index_path: Path

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.index["cells"] if c["status"] == "failed"]


class _Models:
    """Loads each model once for all its cells (cells are sorted, so one model at a time is kept)."""

    def __init__(self) -> None:
        self._key = None
        self._value: object = None

    def get(self, cell: Cell):
        from edgekit.engine.steps import loader_options
        from edgekit.models import load_model

        spec = cell.spec
        try:
            options = loader_options(Path(spec.path), cell.options)  # as the engine itself would load it
        except Exception as exc:  # an unreadable model: every cell of it fails with this
            options = exc
        key = (spec.path, spec.unsafe_deserialization, repr(options))
        if key != self._key:
            self._key = key
            try:
                if isinstance(options, Exception):
                    raise options
                self._value = load_model(spec.path, unsafe=spec.unsafe_deserialization, **options)
            except Exception as exc:  # remembered: the model's other cells fail with the same error
                self._value = exc
        if isinstance(self._value, Exception):
            raise self._value
        return self._value


def entry(cell: Cell, key: str, folder: Path, status: str, seconds: float) -> dict:
    """The index entry of a finished cell, read back from its (typed) manifest."""
    manifest = Manifest.read(folder / "manifest.json")
    rel = f"{CELLS_DIR}/{cell.id}"
    return {
        "id": cell.id,
        "model": cell.model,
        "target": cell.target,
        "variant": cell.variant,
        "status": status,
        "cached": status == "cached",
        "key": key,
        "error": None,
        "dir": rel,
        "manifest": f"{rel}/manifest.json",
        "labels": f"{rel}/labels.txt" if (folder / "labels.txt").is_file() else None,
        "source": {"path": manifest.source.path, "sha256": manifest.source.sha256},
        "precision": manifest.precision.used,
        "passed": manifest.passed,
        "artifacts": [{**a.model_dump(mode="json"), "path": f"{rel}/{a.path}"} for a in manifest.artifacts],
        "warnings": manifest.warnings,
        "thresholds": cell.thresholds.active(),
        "seconds": round(seconds, 3),
    }


def failed_entry(cell: Cell, key: str | None, exc: Exception, seconds: float) -> dict:
    known = isinstance(exc, EdgekitError)
    return {
        "id": cell.id,
        "model": cell.model,
        "target": cell.target,
        "variant": cell.variant,
        "status": "failed",
        "cached": False,
        "key": key,
        "error": str(exc) if known else f"{type(exc).__name__}: {exc} (unexpected error: please report it)",
        "error_type": type(exc).__name__,
        "traceback": None if known else traceback.format_exc(limit=-8),
        "dir": None,
        "artifacts": [],
        "warnings": [],
        "thresholds": cell.thresholds.active(),
        "seconds": round(seconds, 3),
    }


def _convert(cell: Cell, key: str, inputs: dict, models: _Models, final: Path, progress) -> None:
    """Convert ``cell`` into a temp folder beside ``final`` and rename it into place when complete."""
    from edgekit.engine import convert

    tmp = cache.temp_dir(final.parent, cell.id)
    try:
        spec = cell.spec
        result = convert(spec.path, cell.profile, cell.options, tmp, source=models.get(cell), progress=progress)
        if spec.labels is not None:
            shape = result.manifest.source.outputs[0].shape
            if len(shape) != 2 or shape[-1] != len(spec.labels):
                raise ConfigError(
                    f"models.{cell.model}.labels: {len(spec.labels)} class names, but the model's first output "
                    f"has shape {shape}; give one name per class"
                )
            atomic_write_bytes(tmp / "labels.txt", "".join(f"{n}\n" for n in spec.labels).encode())
        atomic_write_json(tmp / cache.CELL_FILE, {"schema": cache.CELL_SCHEMA, "id": cell.id, "key": key, "inputs": inputs})
        cache.install(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build(
    config_path: str | Path,
    output_dir: str | Path,
    *,
    shard: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    force: bool = False,
    on_event: Event = _quiet,
) -> BuildResult:
    """Build the cells of ``config_path`` (all, or shard K of N) into ``output_dir``."""
    cfg, profiles = load_config(config_path)
    cells = expand(cfg, profiles)
    matrix = [c.id for c in cells]
    mine = set(shard_of(matrix, shard))
    out = Path(output_dir)
    with cache.locked(out):
        return _build(cfg, cells, matrix, mine, out, shard, None if cache_dir is None else Path(cache_dir), force, on_event)


def _build(cfg, cells: list[Cell], matrix, mine, out: Path, shard, store: Path | None, force: bool, on_event: Event):
    cells_dir = out / CELLS_DIR
    cells_dir.mkdir(parents=True, exist_ok=True)
    cache.recover(cells_dir)

    prev = {c["id"]: c for c in (read_index(out, required=False) or {}).get("cells", [])}
    done: dict[str, dict] = {  # previous entries still true on disk: the index stays honest if we are killed
        i: e for i, e in prev.items() if i in mine and e["status"] != "failed" and cache.is_valid(cells_dir / i, e["key"])
    }
    config = {"path": cfg.path, "sha256": cfg.sha256}

    def write(complete: bool) -> Path:
        return write_index(out, make_index(config=config, matrix=matrix, cells=done, shard=shard, complete=complete))

    write(False)
    hasher, models = cache.Hasher(), _Models()
    for cell in (c for c in cells if c.id in mine):
        t0 = time.perf_counter()
        final = cells_dir / cell.id
        key = None
        on_event("start", cell.id, "")
        try:
            inputs = cache.key_inputs(cell, hasher)
            key = cache.cell_key(inputs)
            status = "cached"
            if force or not cache.is_valid(final, key):
                if done.pop(cell.id, None) is not None:
                    write(False)  # the old entry leaves the index before its folder is replaced
                hit = None if force or store is None else cache.store_get(store, key)
                if hit is not None:
                    cache.install(hit, final, copy=True)
                else:
                    _convert(cell, key, inputs, models, final, lambda s, d, t, c=cell.id: on_event("stage", c, s))
                    status = "built"
                    if store is not None:
                        cache.store_put(store, key, final)
            done[cell.id] = entry(cell, key, final, status, time.perf_counter() - t0)
            on_event(status, cell.id, "")
        except Exception as exc:
            if done.pop(cell.id, None) is not None:
                write(False)
            done[cell.id] = failed_entry(cell, key, exc, time.perf_counter() - t0)
            shutil.rmtree(final, ignore_errors=True)  # never publish a stale artifact for a failed cell
            on_event("failed", cell.id, done[cell.id]["error"])
        write(False)
    for p in cells_dir.iterdir():  # the folder holds exactly the cells of its index
        if not p.name.startswith(".") and p.name not in mine:
            shutil.rmtree(p, ignore_errors=True)
    path = write(True)
    return BuildResult(index=json.loads(path.read_text()), index_path=path)
