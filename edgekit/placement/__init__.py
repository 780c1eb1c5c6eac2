"""Where every op of a .tflite runs on a target: Edge TPU and GPU-delegate rules (data under
``targets/rules/``), XNNPACK measured from the real LiteRT runtime, the Edge TPU compiler's log when the
compiler is installed, and microcontrollers through the real TFLite Micro interpreter (:mod:`.mcu`).

Integration: ``analyze(data, profile)`` -> ``Placement | None`` for every TFLite artifact; embed
``placement.model_dump(mode="json")`` in the artifact's manifest entry under ``placement``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the models are in edgekit.manifest.placement; importing them here would load pydantic
    from edgekit.manifest.placement import Placement  # models at `edgekit --help` (this package hosts `inspect`)
    from edgekit.targets import TargetProfile

__all__ = ["analyze", "rules_for"]

_DELEGATE_RULES = {"edgetpu": "edgetpu", "gpu": "gpu"}


def rules_for(profile: TargetProfile) -> str | None:
    """The rule set a profile uses: its ``placement_rules`` field, else the one of its delegate."""
    return profile.placement_rules or _DELEGATE_RULES.get(profile.delegate)


def analyze(data: bytes, profile: TargetProfile) -> Placement | None:
    """Placement of a .tflite on ``profile``: predicted from rules (Edge TPU, GPU), measured (XNNPACK), or
    None for targets without an accelerator to place on (plain CPU, ONNX Runtime, microcontrollers)."""
    from edgekit.placement.graph import read_graph

    if profile.runtime == "onnxruntime":
        return None
    name = rules_for(profile)
    if name:
        from edgekit.placement.engine import predict
        from edgekit.placement.rules import load_rules

        return predict(read_graph(data), load_rules(name), profile.name)
    if profile.delegate == "xnnpack" and profile.runtime == "litert":
        from edgekit.placement.xnnpack import measure

        read_graph(data)  # a clean ModelLoadError for non-TFLite bytes before the runtime sees them
        return measure(data, profile.name, threads=profile.default_threads)
    return None
