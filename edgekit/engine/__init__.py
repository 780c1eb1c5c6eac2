"""The conversion engine: one model, one target, one :class:`~edgekit.options.ConvertOptions` in; artifacts
and a typed :class:`~edgekit.manifest.Manifest` out.

    load -> data -> precision -> optimize -> source outputs -> emit + validate -> manifest -> write

Nothing is written until every artifact has been converted and validated; the output folder is checked
before any work. An artifact that misses its fidelity budget is still written (to be inspected) and the
manifest says ``"passed": false``.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.engine import output, steps
from edgekit.engine.record import build_manifest
from edgekit.engine.state import ConvertResult, Run
from edgekit.models.base import SourceModel
from edgekit.options import ConvertOptions
from edgekit.progress import Progress, quiet
from edgekit.targets import TargetProfile, load_target


def convert(model: str | Path, target: str | Path | TargetProfile, options: ConvertOptions | None = None,
            output_dir: str | Path = "out", *, source: SourceModel | None = None, progress: Progress = quiet,
            overwrite: bool = False) -> ConvertResult:
    """Convert ``model`` for ``target``. ``source`` passes an already loaded (or optimized) model."""
    profile = target if isinstance(target, TargetProfile) else load_target(target)
    opts = options or ConvertOptions()
    out = Path(output_dir)
    output.check_writable(out)
    path = Path(model)
    output.check_owner(out, source.path if source is not None else path, profile.name, overwrite)
    run = Run(path=path, profile=profile, options=opts, progress=progress, output_dir=out)
    steps.load(run, source)
    steps.data(run)
    steps.precision(run)
    steps.optimize(run)
    steps.source_outputs(run)
    steps.emit(run)
    manifest = build_manifest(run)
    run.stage("writing")
    mpath, paths = output.write(run, manifest)
    return ConvertResult(manifest=manifest, manifest_path=mpath, artifact_paths=paths, warnings=list(run.warnings))


__all__ = ["ConvertResult", "convert"]
