"""The shipped table of device-runtime wheels that exist (``targets/device/wheels.toml``).

Light: stdlib + pydantic only (the target-profile validator calls :func:`check`).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict


class WheelSet(BaseModel):
    """Versions of one runtime that have a wheel for one (arch, Python)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runtime: str
    arch: str
    python: str
    versions: tuple[str, ...]


@lru_cache(maxsize=1)
def known_wheels() -> tuple[WheelSet, ...]:
    text = (resources.files("edgekit._profiles") / "device" / "wheels.toml").read_text()
    return tuple(WheelSet(**w) for w in tomllib.loads(text)["wheels"])


def available(runtime: str, arch: str) -> dict[str, tuple[str, ...]]:
    """Python version -> versions of ``runtime`` with a wheel for ``arch``."""
    return {w.python: w.versions for w in known_wheels() if w.runtime == runtime and w.arch == arch}


def check(runtime: str, version: str, python: str, arch: str) -> str | None:
    """None when a wheel exists; else one sentence naming what does exist (for the profile validator)."""
    by_py = available(runtime, arch)
    if version in by_py.get(python, ()):
        return None
    if not by_py:
        runtimes = sorted({w.runtime for w in known_wheels() if w.arch == arch})
        return (
            f"no {runtime} wheels are known for {arch}; runtimes with {arch} wheels: "
            f"{', '.join(runtimes) or 'none'}"
        )
    exists = "; ".join(f"Python {py}: {', '.join(v)}" for py, v in sorted(by_py.items(), key=lambda kv: _pykey(kv[0])))
    with_version = [py for py, v in by_py.items() if version in v]
    hint = f" ({runtime} {version} exists for Python {', '.join(sorted(with_version, key=_pykey))})" if with_version else ""
    return (
        f"{runtime} {version} has no {arch} wheel for Python {python}{hint}. "
        f"{arch} wheels of {runtime} that exist: {exists}"
    )


def _pykey(py: str) -> tuple[int, ...]:
    return tuple(int(p) for p in py.split("."))
