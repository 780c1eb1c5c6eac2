"""The manifest's device-runtime section: an artifact run on the runtime(s) its device has, under emulation
(:class:`DeviceCheck`). Filled by :mod:`edgekit.device`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

NOTE = "emulated (qemu-user): shows that the artifact runs on the device's runtime and what it outputs; not how fast"


class Agreement(BaseModel):
    """Device outputs vs host outputs on the same inputs (dequantized to float; first output for top-1)."""

    model_config = ConfigDict(frozen=True)

    samples: int
    cosine: float  # over all outputs, flattened
    max_abs_err: float
    top1_agreement: float | None  # share of samples whose argmax agrees (None for one-value outputs)
    max_quant_steps: int | None = None  # integer outputs: largest difference in quantization steps


class DeviceRunRecord(BaseModel):
    """One artifact on one device runtime, as the manifest records it."""

    model_config = ConfigDict(frozen=True)

    runtime: str
    version: str
    python: str
    arch: str
    emulated: bool = True
    cpu: str | None = None  # the emulated CPU model (qemu -cpu)
    status: Literal["ran", "crashed", "error"]
    signal: str | None = None  # e.g. SIGSEGV when crashed
    message: str = ""
    agreement: Agreement | None = None


class QuirkFinding(BaseModel):
    """A quirk matched at one operator of an artifact, for one device runtime."""

    model_config = ConfigDict(frozen=True)

    quirk: str
    runtime: str
    version: str
    subgraph: int
    operator: int
    op: str
    output: str  # name of the operator's output tensor
    effect: str
    fix: str
    fixed: bool = False
    test: str



class DeviceCheck(BaseModel):
    """The device-runtime check of one artifact (embed as ``model_dump(mode="json")``)."""

    model_config = ConfigDict(frozen=True)

    profile: str
    arch: str
    emulated: bool = True
    note: str = NOTE
    artifact_sha256: str  # of the artifact checked: the rewritten one when ``rewritten``
    rewritten: bool
    quirks: tuple[QuirkFinding, ...]
    results: tuple[DeviceRunRecord, ...]
    min_cosine: float
    min_top1_agreement: float
    passed: bool
    failures: tuple[str, ...]
