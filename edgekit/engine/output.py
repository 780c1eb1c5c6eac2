"""Where artifacts go: checked before any work (exists as a file, not writable, holds another model's
conversion), written last and atomically (temp file + rename), manifest after the artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from edgekit.engine.state import Run
from edgekit.errors import ConfigError
from edgekit.hashing import atomic_write_bytes, atomic_write_json
from edgekit.models.base import model_name

MANIFEST = "manifest.json"


def _probe(folder: Path, out: Path) -> None:
    """Create and remove a temp file in ``folder``: the one test that sees read-only mounts and chattr +i."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".edgekit-probe-")
    except OSError as exc:
        raise ConfigError(
            f"-o {out}: cannot write into {folder} ({exc.strerror or exc}); choose a writable output folder"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_writable(out: Path) -> None:
    """Fail before any work when ``out`` cannot become a folder of artifacts."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: exists and is not a folder; pass a folder (it is created if missing)")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"-o {out}: {parent} is a file, so the folder cannot be created; choose another -o")
    _probe(parent, out)


def previous(out: Path) -> dict | None:
    """The manifest already in ``out`` (any schema version), or None."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def check_owner(out: Path, model: Path, target: str, overwrite: bool) -> None:
    """Refuse to replace another model's or target's conversion in ``out`` unless ``overwrite``."""
    old = previous(out)
    if old is None or overwrite:
        return
    try:
        old_path, old_target = Path(old["source"]["path"]), old["target"]["name"]
    except (KeyError, TypeError):
        raise ConfigError(
            f"-o {out}: holds a {MANIFEST} edgekit cannot read; pass --overwrite to replace it, or another -o"
        ) from None
    if (model_name(old_path), old_target) != (model_name(model), target):
        raise ConfigError(
            f"-o {out}: already holds the conversion of {old_path.name} for target {old_target!r} ({MANIFEST}); "
            f"converting {model.name} for {target!r} there would orphan it. Use another -o, or --overwrite"
        )


def write(run: Run, manifest) -> tuple[Path, list[Path]]:
    """Write every artifact, then the manifest; then drop artifacts the old manifest listed and the new does not."""
    out = run.output_dir
    old = previous(out) or {}
    paths = []
    for b in run.built:
        p = out / b.record.path
        atomic_write_bytes(p, b.data)
        paths.append(p)
        if b.record.c_array:
            from edgekit.placement.carray import emit_c_array

            cc, h = emit_c_array(b.data, "g_model")
            atomic_write_bytes(out / b.record.c_array[0], cc.encode())
            atomic_write_bytes(out / b.record.c_array[1], h.encode())
            paths += [out / n for n in b.record.c_array]
        for fname, data in sorted(b.files.items()):
            atomic_write_bytes(out / fname, data)
    mpath = out / MANIFEST
    atomic_write_json(mpath, manifest.to_json())
    keep = {b.record.path for b in run.built} | {n for b in run.built for n in [*(b.record.c_array or ()), *b.files]}
    for a in old.get("artifacts") or []:
        name = a.get("path") if isinstance(a, dict) else None
        if isinstance(name, str) and name not in keep and Path(name).name == name:
            with contextlib.suppress(OSError):
                (out / name).unlink()
    return mpath, paths
