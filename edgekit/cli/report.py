"""``edgekit report`` (registered in :data:`edgekit.registry.COMMANDS`). Exit codes: 0 every check passed,
1 a threshold is broken or a cell failed (the broken checks are printed first), 2 bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.common import console


def report(
    build_dir: Annotated[Path, typer.Argument(help="A build folder (edgekit build / edgekit merge).")],
    baseline: Annotated[Optional[Path], typer.Option(help="Baseline to compare against (written by --save-baseline).")] = None,
    save_baseline: Annotated[Optional[Path], typer.Option(help="Write this build's numbers as the new baseline file.")] = None,
    format: Annotated[str, typer.Option("--format", help="Comma-separated: md, html, json, junit.")] = "md,html,json,junit",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for report.md / report.html / report.json / junit.xml.")] = Path("report"),
    bench: Annotated[Optional[list[Path]], typer.Option(help="edgekit bench --json result(s) to add (build/bench/*.json are read too).")] = None,
) -> None:
    """Check every artifact of BUILD_DIR against the config's thresholds and a baseline; write the reports."""
    from rich.markup import escape

    from edgekit.report import make_report, parse_formats, write_report
    from edgekit.report.checks import save_baseline as write_baseline
    from edgekit.report.table import headline

    formats = parse_formats(format)
    rep = make_report(build_dir, baseline=baseline, bench=bench)
    paths = write_report(rep, formats, output)
    con = console(stderr=True)
    for f in rep["failures"]:
        con.print(f"[bold red]FAIL[/] {escape(f['artifact'])} {f['check']}: {escape(f['message'])}")
    con.print(("[green]" if rep["passed"] else "[bold red]") + headline(rep) + "[/]")
    for p in paths:
        con.print(f"wrote {p}")
    if save_baseline is not None:
        con.print(f"wrote baseline {write_baseline(rep['rows'], save_baseline)}")
    if not rep["passed"]:
        raise typer.Exit(1)
