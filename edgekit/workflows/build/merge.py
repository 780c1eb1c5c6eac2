"""``edgekit merge``: the folders of ``edgekit build --shard K/N`` jobs -> one build folder and index.

Everything is checked before anything is written: the shards come from the same config, no cell was
built twice, no cell is missing (the error names each missing cell and the shard that should have built
it), every shard finished, and every cell's files still match its index entry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgekit.workflows.build import cache
from edgekit.workflows.build.index import CELLS_DIR, make_index, owner_shard, read_index, write_index
from edgekit.errors import ConfigError
from edgekit.hashing import sha256_file

BENCH_DIR = "bench"


def _check(shards: list[tuple[Path, dict]]) -> dict[str, tuple[Path, dict]]:
    ref_dir, ref = shards[0]
    for d, idx in shards[1:]:
        if idx["config"]["sha256"] != ref["config"]["sha256"] or idx["matrix"] != ref["matrix"]:
            raise ConfigError(
                f"{d} and {ref_dir} were built from different configs (config sha256 "
                f"{idx['config']['sha256'][:12]}… vs {ref['config']['sha256'][:12]}…); merge the shards of one build only"
            )
    unfinished = [str(d) for d, idx in shards if not idx["complete"]]
    if unfinished:
        raise ConfigError(f"the build in {', '.join(unfinished)} did not finish; re-run that shard, then merge")
    owner: dict[str, tuple[Path, dict]] = {}
    dups: dict[str, list[str]] = {}
    for d, idx in shards:
        for c in idx["cells"]:
            if c["id"] in owner:
                dups.setdefault(c["id"], [str(owner[c["id"]][0])]).append(str(d))
            else:
                owner[c["id"]] = (d, c)
    if dups:
        lines = "; ".join(f"{cid} (in {', '.join(ds)})" for cid, ds in sorted(dups.items()))
        raise ConfigError(f"cells built by more than one shard: {lines}. Pass each shard's folder once, one per K/N")
    matrix = ref["matrix"]
    missing = [c for c in matrix if c not in owner]
    if missing:
        counts = {idx["shard"]["count"] for _, idx in shards if idx.get("shard")}
        n = counts.pop() if len(counts) == 1 else None
        where = [f"{c} (shard {owner_shard(c, matrix, n)}/{n})" if n else c for c in missing]
        raise ConfigError(
            f"missing cells: {', '.join(where)}. Pass every shard's folder (a shard's job may have failed to upload)"
        )
    extra = sorted(set(owner) - set(matrix))
    if extra:
        raise ConfigError(f"cells not in the build matrix: {', '.join(extra)}; a shard folder is corrupt, rebuild it")
    for cid, (d, c) in sorted(owner.items()):
        if c["status"] != "failed" and not cache.is_valid(d / c["dir"], c["key"]):
            raise ConfigError(f"{d / c['dir']}: the cell's files do not match its index entry; rebuild that shard")
    return owner


def _copy_bench(shards: list[tuple[Path, dict]], out: Path) -> None:
    for d, _ in shards:
        src = d / BENCH_DIR
        if not src.is_dir() or src.resolve() == (out / BENCH_DIR).resolve():
            continue
        for f in sorted(src.glob("*.json")):
            dest = out / BENCH_DIR / f.name
            if dest.exists() and sha256_file(dest) != sha256_file(f):
                dest = dest.with_name(f"{d.name}-{f.name}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)


def merge(shard_dirs: list[str | Path], output_dir: str | Path) -> dict:
    """Merge shard build folders into ``output_dir``; returns the merged index (also written there)."""
    if not shard_dirs:
        raise ConfigError("merge: pass the shard folders, e.g. `edgekit merge build-shard-*/ -o build/`")
    dirs = list(dict.fromkeys(Path(d) for d in shard_dirs))
    shards = [(d, read_index(d)) for d in dirs]
    owner = _check(shards)
    out = Path(output_dir)
    with cache.locked(out):
        return _merge(shards, owner, dirs, out)


def _merge(shards, owner, dirs, out: Path) -> dict:
    cells_dir = out / CELLS_DIR
    cells_dir.mkdir(parents=True, exist_ok=True)
    cache.recover(cells_dir)
    ref = shards[0][1]

    def write(cells: dict, complete: bool) -> dict:
        index = make_index(
            config=ref["config"], matrix=ref["matrix"], cells=cells, shard=None, complete=complete,
            tools=ref.get("tool_versions"), merged_from=[str(d) for d in dirs],
        )
        write_index(out, index)
        return index

    # first an index of only what is already in place, so a killed merge never leaves a stale entry
    write({cid: c for cid, (_, c) in owner.items() if c["status"] != "failed" and cache.is_valid(cells_dir / cid, c["key"])}, False)
    for cid, (d, c) in sorted(owner.items()):
        if c["status"] == "failed":
            shutil.rmtree(cells_dir / cid, ignore_errors=True)
        elif (d / c["dir"]).resolve() != (cells_dir / cid).resolve() and not cache.is_valid(cells_dir / cid, c["key"]):
            cache.install(d / c["dir"], cells_dir / cid, copy=True)
    for p in cells_dir.iterdir():
        if not p.name.startswith(".") and p.name not in owner:
            shutil.rmtree(p, ignore_errors=True)
    _copy_bench(shards, out)
    return write({cid: c for cid, (_, c) in owner.items()}, True)
