"""Which precision to build: the user's (if the profile allows it), else the profile's default, falling back
to weight-only int8 when no calibration data exists and the profile allows that."""

from __future__ import annotations

from edgekit.errors import CalibrationError
from edgekit.targets import Precision, TargetProfile

CALIBRATION_HINT = (
    "pass --calibration FILE.npz (array 'x' shaped like the model input), FILE.npy, or a folder of images, "
    "with a few hundred representative samples"
)


def resolve_precision(profile: TargetProfile, requested: Precision | str | None, has_calibration: bool) -> tuple[Precision, str | None]:
    """The precision to build, and the reason when it differs from what the profile asked for."""
    if requested is not None:
        precision = Precision(requested)
        profile.check_precision(precision)
        if precision.needs_calibration and not has_calibration:
            raise CalibrationError(f"--precision {precision.value} needs calibration data: {CALIBRATION_HINT}")
        return precision, None
    precision = profile.precision
    if not precision.needs_calibration or has_calibration:
        return precision, None
    if profile.full_integer_required or not profile.weight_only_fallback:
        raise CalibrationError(
            f"target {profile.name!r} needs a full-integer model, and full-integer quantization needs "
            f"calibration data: {CALIBRATION_HINT}"
        )
    return Precision.DYNAMIC, (
        f"no calibration data: built dynamic-range int8 (int8 weights, float activations) instead of "
        f"{precision.value}; pass --calibration FILE|DIR for full {precision.value}"
    )
