"""edgekit: compile trained networks into validated, quantized artifacts for edge targets.

Heavy libraries (TensorFlow, onnxruntime, ...) are imported lazily where they are used, so that importing
``edgekit`` and running ``edgekit --help`` stays fast.
"""

__version__ = "0.1.0"

from edgekit.errors import (  # noqa: E402
    CalibrationError,
    ConfigError,
    ConversionError,
    EdgekitError,
    ModelLoadError,
    RuntimeUnavailableError,
    TargetConstraintError,
)

__all__ = [
    "__version__",
    "CalibrationError",
    "ConfigError",
    "ConversionError",
    "EdgekitError",
    "ModelLoadError",
    "RuntimeUnavailableError",
    "TargetConstraintError",
]
