"""Content-addressed cell cache.

A cell's key is the SHA-256 of everything its artifacts depend on: the bytes of the model, calibration
and eval data (and the class names), the target profile's content, the resolved ConvertOptions, the tool
versions and edgekit's own source. A cell folder whose ``cell.json`` carries the same key, and whose artifacts still hash to what
its manifest says, is reused as is. With ``--cache-dir`` finished cells are also kept in a store
``<cache-dir>/<key>/`` (e.g. restored by the CI system's cache between runs).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from edgekit.workflows.build.config import Cell
from edgekit.errors import ConfigError
from edgekit.hashing import sha256_bytes, sha256_file, sha256_path, sha256_tree
from edgekit.manifest import tool_versions
from edgekit.options import RANDOM

KEY_VERSION = 2
CELL_FILE = "cell.json"
CELL_SCHEMA = "edgekit.build-cell/1"


class Hasher:
    """SHA-256 of input files and folders, each computed once per build."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def __call__(self, path: str | None) -> str | None:
        if path is None or path == RANDOM:
            return path
        if path not in self._memo:
            self._memo[path] = sha256_path(Path(path))
        return self._memo[path]


def key_inputs(cell: Cell, hasher: Hasher) -> dict:
    """What the key covers, in the clear (kept in cell.json to explain a cache miss): the options as a
    ConvertOptions dump with every data path replaced by its content hash, the profile, the tool versions
    and a hash of edgekit's own installed source (so editing edgekit rebuilds, no --force needed)."""
    spec = cell.spec
    options = cell.options.model_dump(mode="json")
    options["calibration"] = hasher(options["calibration"])
    options["eval_data"] = hasher(options["eval_data"])
    if options.get("optimize") and options["optimize"].get("train_data"):
        options["optimize"]["train_data"] = hasher(options["optimize"]["train_data"])
    return {
        "key_version": KEY_VERSION,
        # the artifact file names derive from the model's file name, so it is part of the key
        "model": {"name": Path(spec.path).name, "sha256": hasher(spec.path)},
        "labels": None if spec.labels is None else list(spec.labels),
        "profile": cell.profile.model_dump(mode="json", exclude={"source"}),
        "options": options,
        "tools": tool_versions(),
        "edgekit_source": edgekit_source_hash(),
    }


@functools.lru_cache(maxsize=1)
def edgekit_source_hash() -> str:
    """SHA-256 of every file of the installed edgekit package (code, profiles, rule sets), in sorted order."""
    import edgekit

    root = Path(edgekit.__file__).parent
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + sha256_file(p).encode())
    for res in ("edgekit._profiles", "edgekit._samples"):
        h.update(sha256_tree(Path(str(resources.files(res)))).encode())
    return h.hexdigest()


def cell_key(inputs: dict) -> str:
    return sha256_bytes(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())


def read_cell(folder: Path) -> dict | None:
    """The cell.json of a finished cell folder, or None when absent or unreadable."""
    try:
        data = json.loads((folder / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == CELL_SCHEMA else None


def is_valid(folder: Path, key: str) -> bool:
    """True when ``folder`` holds a finished cell with ``key`` whose artifacts match their manifest."""
    cell = read_cell(folder)
    if cell is None or cell.get("key") != key:
        return False
    from edgekit.manifest import Manifest

    try:
        manifest = Manifest.read(folder / "manifest.json")
        return all(sha256_file(folder / a.path) == a.sha256 for a in manifest.artifacts)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return False


def temp_dir(parent: Path, name: str) -> Path:
    """An empty hidden folder ``.tmp-<name>-*`` in ``parent`` (same filesystem: renames are atomic), with
    the permissions a plain mkdir would give (mkdtemp's are 0700)."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def install(src: Path, final: Path, *, copy: bool = False) -> None:
    """Put the finished folder ``src`` at ``final``, replacing what is there, by renames only.

    With ``copy`` the folder is first copied into a temp folder beside ``final``. A kill between the two
    renames leaves ``final`` missing and the previous one at ``.old-*``; :func:`recover` puts it back.
    """
    if copy:
        tmp = temp_dir(final.parent, final.name)
        try:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        src = tmp
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    os.rename(src, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def locked(folder: Path):
    """Hold an exclusive lock on ``folder/.lock`` (released by the OS even when the process is killed)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(folder / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{folder} is being written by another `edgekit build` or `edgekit merge`; wait for it, or use another -o"
            ) from None
        yield


def recover(folder: Path) -> None:
    """Clean up after a killed build: drop half-built ``.tmp-*`` folders, restore or drop ``.old-*``."""
    if not folder.is_dir():
        return
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".tmp-"):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith(".old-"):
            name = p.name[len(".old-") :].rsplit("-", 1)[0]
            if not (folder / name).exists():
                os.rename(p, folder / name)
            else:
                shutil.rmtree(p, ignore_errors=True)


def store_put(cache_dir: Path, key: str, folder: Path) -> None:
    dest = cache_dir / key
    if not is_valid(dest, key):
        install(folder, dest, copy=True)


def store_get(cache_dir: Path, key: str) -> Path | None:
    src = cache_dir / key
    return src if is_valid(src, key) else None
