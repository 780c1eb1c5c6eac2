"""One way to register things: a :class:`Registry` maps a name to ``"module:attr"`` (imported only when the
entry is first used) or to an object, with free-form metadata. Loaders, emitters, runtimes, report formats,
sweep variants and CLI command groups are each one registry; pydantic fields and CLI choices validate
against :meth:`Registry.names`, and an unknown name gets one message listing the known ones."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    name: str
    target: Any  # "module:attr" (lazy) or the object itself
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        if not isinstance(self.target, str):
            return self.target
        mod, _, attr = self.target.partition(":")
        obj = importlib.import_module(mod)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


class Registry:
    """An ordered name -> entry table. Order matters where entries are tried in turn (loader sniffing)."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint  # appended to the unknown-name message, e.g. "Run `edgekit targets`"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: Any, **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, dict(meta))

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown(name)) from None

    def get(self, name: str) -> Any:
        """The registered object (imported on first use)."""
        return self.entry(name).load()

    def meta(self, name: str) -> dict[str, Any]:
        return self.entry(name).meta

    def unknown(self, name: object) -> str:
        msg = f"unknown {self.kind} {name!r}; choose from {', '.join(self.names()) or 'nothing'}"
        return f"{msg}. {self.hint}" if self.hint else msg

    def check(self, name: str) -> str:
        """``name`` when registered, else ValueError (for pydantic validators) with the known names."""
        if name not in self._entries:
            raise ValueError(self.unknown(name))
        return name


# --- the registries (data only: nothing is imported until an entry is used) -------------------------------

# model loaders, tried in this order by their ``sniff(path) -> bool``; each module has ``load(path, ...)``
LOADERS = Registry("model format", "edgekit reads .keras, .h5 (Keras 3 or legacy Keras 2), SavedModel folders, .onnx and .tflite files")
LOADERS.register("savedmodel", "edgekit.models.savedmodel")
LOADERS.register("keras", "edgekit.models.keras", sniff="sniff_keras", label="Keras 3 .keras (zip)")
LOADERS.register("h5", "edgekit.models.keras", sniff="sniff_h5", label="Keras 3 or legacy Keras 2 HDF5")
LOADERS.register("onnx", "edgekit.models.onnx")
LOADERS.register("tflite", "edgekit.models.tflite", label="a float .tflite, quantized by ai-edge-quantizer")

# artifact emitters: format -> emit(model, profile, precision, calibration, **emit options) -> Artifact
EMITTERS = Registry("artifact format")
EMITTERS.register("tflite", "edgekit.export.tflite:emit", runtime="litert", suffix=".tflite")
EMITTERS.register("onnx", "edgekit.export.onnx:emit", runtime="onnxruntime", suffix=".onnx")

# runtimes that execute artifacts: name -> Runner class
RUNTIMES = Registry("runtime")
RUNTIMES.register("litert", "edgekit.runtimes.litert:LiteRTRunner", formats=("tflite",))
RUNTIMES.register("onnxruntime", "edgekit.runtimes.onnxruntime:OrtRunner", formats=("onnx",))

# report formats: name -> render(report dict) -> text, written to meta["file"]
REPORT_FORMATS = Registry("report format")
REPORT_FORMATS.register("md", "edgekit.report.markdown:render", file="report.md")
REPORT_FORMATS.register("html", "edgekit.report.html:render", file="report.html")
REPORT_FORMATS.register("json", "edgekit.report:render_json", file="report.json")
REPORT_FORMATS.register("junit", "edgekit.report.junit:render", file="junit.xml")

# CLI commands: name -> typer command function (light imports at module level only)
COMMANDS = Registry("command")
COMMANDS.register("convert", "edgekit.cli.convert:convert")
COMMANDS.register("targets", "edgekit.cli.convert:targets")
COMMANDS.register("example", "edgekit.cli.convert:example")
COMMANDS.register("schema", "edgekit.cli.convert:schema")
COMMANDS.register("bench", "edgekit.cli.bench:bench")
COMMANDS.register("harness", "edgekit.cli.bench:harness")
COMMANDS.register("sweep", "edgekit.cli.sweep:sweep_cmd")
COMMANDS.register("build", "edgekit.cli.build:build")
COMMANDS.register("merge", "edgekit.cli.build:merge")
COMMANDS.register("report", "edgekit.cli.report:report")
COMMANDS.register("inspect", "edgekit.placement.cli:inspect")
COMMANDS.register("device-env", "edgekit.device.cli:app", group=True)  # a typer sub-app: setup | status
