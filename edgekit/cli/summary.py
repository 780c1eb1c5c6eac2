"""The terminal summary of one conversion, read from the typed manifest."""

from __future__ import annotations

from pathlib import Path

from edgekit.cli.common import console


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def table(manifest):
    from rich.table import Table

    t = manifest.target
    tbl = Table(title=f"{Path(manifest.source.path).name} → {t.name} ({t.runtime}/{t.delegate})")
    tbl.add_column("")
    arts = manifest.artifacts
    for a in arts:
        tbl.add_column(a.path, justify="right", overflow="fold")

    def row(label, fn):
        tbl.add_row(label, *(fn(a, a.validation) for a in arts))

    row("precision / IO", lambda a, v: f"{a.precision} / {a.io_dtype}")
    row("bytes", lambda a, v: f"{a.bytes:,}")
    row("max |error|", lambda a, v: f"{v.max_abs_error:.4g}")
    row("cosine (mean)", lambda a, v: f"{v.cosine:.6f}")
    row("top-1 agreement", lambda a, v: _pct(v.top1_agreement))
    row("accuracy source", lambda a, v: _pct(v.accuracy and v.accuracy.source))
    row("accuracy artifact", lambda a, v: _pct(v.accuracy and v.accuracy.artifact))
    row("fidelity gate", lambda a, v: "[green]passed[/]" if a.gate.passed else "[bold red]FAILED[/]")
    return tbl


def _target_lines(con, a) -> None:
    """Placement, microcontroller and device-runtime results of one artifact, one line each."""
    from rich.markup import escape

    if a.placement is not None:
        con.print(f"placement {escape(a.placement.summary_line)}")
    if a.edgetpu is not None:
        e = a.edgetpu
        con.print(f"compiled for the Edge TPU by {escape(e.compiler)}: {e.file} "
                  f"({escape(e.placement.summary_line)}; log {e.log_file})")
    if a.mcu is not None:
        m = a.mcu
        con.print(f"TFLite Micro {m.tflm_version}: arena {m.arena_bytes:,} B (verified; {m.arena_less_bytes:,} B "
                  f"{'fails' if m.arena_less_fails else 'also runs'}) of {m.ram_budget_bytes:,} B RAM, "
                  f"flash {m.flash_bytes:,} B of {m.flash_budget_bytes:,} B")
    if a.device is not None:
        for r in a.device.results:
            agree = r.agreement
            how = (f"top-1 agreement {agree.top1_agreement:.2%}, cosine {agree.cosine:.5f}" if agree and
                   agree.top1_agreement is not None else f"cosine {agree.cosine:.5f}" if agree else escape(r.message))
            con.print(f"{r.runtime} {r.version} ({r.arch}, emulated, not timed): {r.status}; {how}")


def print_summary(manifest, warnings: list[str], out_dir: Path) -> None:
    con = console()
    con.print(table(manifest))
    vd, cal = manifest.validation_data, manifest.calibration
    runtimes = ", ".join(f"{a.validation.runtime.name} {a.validation.runtime.version}" for a in manifest.artifacts)
    con.print(f"validated on {vd.samples} samples ({vd.kind}) with {runtimes}")
    if cal:
        con.print(f"calibrated on {cal.samples} samples of {cal.source} (sha256 {cal.sha256[:12]}…)")
    if manifest.cross_format_agreement:
        c = manifest.cross_format_agreement
        con.print(f"{' vs '.join(c.between)}: max |err| {c.max_abs_error:.4g}, top-1 agree {c.top1_agreement}")
    if manifest.optimization:
        from edgekit.optimize.summary import lines

        for line in lines(manifest.optimization.model_dump()):
            con.print(line)
    for a in manifest.artifacts:
        _target_lines(con, a)
    for w in warnings:
        con.print(f"[bold yellow]warning:[/] {w}")
    for a in manifest.artifacts:
        for c in a.gate.failed:
            con.print(f"[bold red]FAILED[/] {a.path}: {c.name}: {c.message}")
    con.print(f"wrote {out_dir / 'manifest.json'}")
    if not manifest.passed:
        con.print("[bold red]an artifact missed its fidelity budget[/] (written for inspection; exit code 1)")
