"""What the conversion steps hand to each other (:class:`Run`), and what a conversion returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.manifest import ArtifactRecord, Manifest
from edgekit.models.base import SourceModel
from edgekit.options import ConvertOptions
from edgekit.progress import Progress
from edgekit.quantize.calibration import Dataset
from edgekit.targets import Precision, TargetProfile


@dataclass
class Built:
    """One emitted artifact, validated, with its manifest record (not yet written)."""

    record: ArtifactRecord
    data: bytes
    outputs: list[np.ndarray]
    artifact: Any  # edgekit.export.Artifact
    files: dict[str, bytes] = field(default_factory=dict)  # reports written beside it (layer report, search)


@dataclass
class Run:
    """The state of one conversion as it walks its steps; each step fills in its part."""

    path: Path
    profile: TargetProfile
    options: ConvertOptions
    progress: Progress
    output_dir: Path
    model: SourceModel | None = None
    stream: Any = None  # edgekit.models.feed.Stream of a stateful streaming model (--state), else None
    formats: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calibration: Dataset | None = None  # as loaded
    calibration_used: Dataset | None = None  # the seeded sample fed to the quantizer
    eval: Dataset | None = None
    validation: Dataset | None = None
    validation_kind: str = ""
    precision: Precision | None = None
    fallback: str | None = None
    optimized: Any = None  # edgekit.optimize.pipeline.Optimized
    source_outputs: list[np.ndarray] = field(default_factory=list)
    built: list[Built] = field(default_factory=list)

    def stage(self, name: str) -> None:
        self.progress(name, 0, 1)


@dataclass(frozen=True)
class ConvertResult:
    manifest: Manifest
    manifest_path: Path
    artifact_paths: list[Path]
    warnings: list[str]

    @property
    def passed(self) -> bool:
        """Every artifact met its fidelity budget (``edgekit convert`` exits 1 otherwise)."""
        return self.manifest.passed
