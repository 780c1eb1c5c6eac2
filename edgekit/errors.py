"""One error family. Only the CLI catches these; it prints the message and exits with code 2."""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class: the message says what is wrong and what to do about it."""

    exit_code = 2


class ConfigError(EdgekitError):
    """A bad option, flag combination or config/profile file."""


class ModelLoadError(EdgekitError):
    """The model file is missing, corrupt, of an unknown format, or refused (e.g. unsafe deserialization)."""


class CalibrationError(EdgekitError):
    """Calibration / evaluation data is missing, empty, of the wrong shape or dtype, or holds NaN/Inf."""


class TargetConstraintError(EdgekitError):
    """The model or the requested precision cannot satisfy the target profile (e.g. non-integer ops)."""


class ConversionError(EdgekitError):
    """The converter itself failed."""


class RuntimeUnavailableError(EdgekitError):
    """No runtime is installed that can run the artifact."""


class DeviceError(EdgekitError):
    """A device could not be reached (ssh: connection, authentication, host key) or a command on it failed."""
