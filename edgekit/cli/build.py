"""``edgekit build`` and ``edgekit merge`` (registered in :data:`edgekit.registry.COMMANDS`). Thin: parse, call,
print. Exit codes: 0 all cells built, 1 some cells failed (the others are built and indexed), 2 bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.common import console


def print_cells(index: dict) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    s = index["summary"]
    tbl = Table(
        title=f"{s['cells']} cell(s): {s['built']} built, {s['cached']} cached, {s['failed']} failed",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    tbl.add_column("cell", no_wrap=True)
    for col in ("status", "artifact", "bytes", "accuracy %", "cosine", "s"):
        tbl.add_column(col, overflow="fold", justify="left" if col in ("status", "artifact") else "right")
    for c in index["cells"]:
        if c["status"] == "failed":
            tbl.add_row(c["id"], "[red]failed[/]", "", "", escape(c["error"]), "", f"{c['seconds']:.1f}")
            continue
        for a in c["artifacts"]:
            v = a["validation"]
            acc = v.get("accuracy")
            tbl.add_row(
                c["id"],
                c["status"],
                f"{a['format']} {a['precision']}",
                f"{a['bytes']:,}",
                f"{acc['source']:.2%} → {acc['artifact']:.2%}".replace("%", "") if acc else "-",
                f"{v['cosine']:.5f}",
                f"{c['seconds']:.1f}",
            )
    # a CI log has no width: do not fold the table at rich's 80-column default for non-terminals
    console(width=None if sys.stdout.isatty() else 120).print(tbl)


def build(
    config: Annotated[Path, typer.Argument(help="The build config: edgekit.yaml or .toml (models, targets, thresholds).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Build folder: cells/<cell-id>/ and index.json.")] = Path("build"),
    shard: Annotated[Optional[str], typer.Option(help="Build only shard K of N of the matrix, e.g. 2/4 (one CI matrix job).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Content-addressed store of finished cells, shared between runs (e.g. a CI cache).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild every cell even when its inputs are unchanged.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print index.json instead of the table.")] = False,
) -> None:
    """Build every model × target (× variant) cell of CONFIG into OUTPUT; unchanged cells are reused."""
    from edgekit.workflows.build.index import parse_shard
    from edgekit.workflows.build.runner import build as run_build

    from rich.markup import escape

    err = console(stderr=True)

    def event(kind: str, cell: str, detail: str) -> None:
        if kind in ("built", "cached"):
            err.print(f"{kind:>7} {cell}")
        elif kind == "failed":
            err.print(f"[red] failed[/] {cell}: {escape(detail)}")

    result = run_build(
        config, output, shard=parse_shard(shard) if shard else None, cache_dir=cache_dir, force=force, on_event=event
    )
    if as_json:
        sys.stdout.write(json.dumps(result.index, indent=2) + "\n")
    else:
        print_cells(result.index)
        err.print(f"wrote {result.index_path}")
    if result.failed:
        err.print(f"[bold red]{len(result.failed)} cell(s) failed[/]: {', '.join(c['id'] for c in result.failed)}")
        raise typer.Exit(1)


def merge(
    shards: Annotated[list[Path], typer.Argument(help="The shard build folders (edgekit build --shard K/N -o ...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The merged build folder.")] = Path("build"),
) -> None:
    """Merge the folders of sharded builds into one build folder with one index.json (checks gaps and overlaps)."""
    from edgekit.workflows.build.index import INDEX_FILE
    from edgekit.workflows.build.merge import merge as run_merge

    index = run_merge(shards, output)
    print_cells(index)
    console(stderr=True).print(f"merged {len(shards)} folder(s) into {output / INDEX_FILE}")
