"""The one model type every loader returns."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def model_name(path: Path) -> str:
    """The name artifacts are called after: a SavedModel folder's name, a file's stem."""
    return (path.name if path.is_dir() else path.stem) or "model"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # None for a dynamic dimension (usually the batch)
    dtype: str = "float32"

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """The shape of one sample: without the leading batch dimension."""
        return self.shape[1:]

    def static(self, batch: int = 1) -> tuple[int, ...]:
        dims = list(self.shape)
        if dims and dims[0] is None:
            dims[0] = batch
        if any(d is None for d in dims):
            raise ValueError(f"input {self.name!r} has dynamic dimensions {self.shape}")
        return tuple(int(d) for d in dims)


@dataclass
class SourceModel:
    """A loaded model, whatever its format.

    ``predict`` runs the *source* model (the reference every artifact is validated against) on a batch and
    returns one array per output, in a fixed order. ``tf_function`` (Keras/SavedModel only) returns a
    ``tf.function`` taking one tensor per input and returning ``{"output_0": ..., ...}``: the graph the
    converters trace.
    """

    path: Path
    format: str  # "keras" | "h5" | "savedmodel" | "onnx" | "tflite"
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    predict: Callable[[list[np.ndarray]], list[np.ndarray]]
    tf_function: Callable[[], Any] | None = None
    keras_model: Any = None  # the keras.Model, for formats that have one (pruning / QAT work on it)
    onnx_model: Any = None  # the onnx.ModelProto, for ONNX sources
    notes: list[str] = field(default_factory=list)
    # which loader read the file, for the manifest ("tf2-object-graph", "tf1-graph-session" for the legacy
    # SavedModel fallback, "litert" for .tflite sources); None: the format's only loader
    loader: str | None = None
    # a TFLiteConverter (v1 or v2) for this model at a static ``batch``, for sources that have no tf.function
    # the v2 converter can trace (legacy SavedModels): edgekit.quantize.tflite uses it instead of tf_function
    tflite_converter: Callable[[int], Any] | None = None
    tflite_bytes: bytes | None = None  # the flatbuffer of a .tflite source (quantized by ai-edge-quantizer)

    @property
    def name(self) -> str:
        return model_name(self.path)

    @property
    def emits_tflite(self) -> bool:
        """Whether edgekit can make a .tflite of it: a TF graph, TF's v1 converter, or a .tflite source."""
        return self.tf_function is not None or self.tflite_converter is not None or self.tflite_bytes is not None

    @property
    def dynamic_inputs(self) -> list[TensorSpec]:
        """Inputs with a dynamic dimension other than the batch."""
        return [t for t in self.inputs if any(d is None for d in t.shape[1:])]

    def with_inputs(self, inputs: list[TensorSpec]) -> SourceModel:
        """This model with fixed input shapes (its ``tf_function`` traces at them)."""
        if self.tf_function is None:
            from edgekit.errors import ConfigError

            raise ConfigError(f"{self.path}: a {self.format} model cannot be re-traced at other input shapes; "
                              "export it with static shapes")
        fn = functools.partial(self.tf_function, specs_in=list(inputs))
        new = dataclasses.replace(self, inputs=list(inputs), tf_function=fn)
        if hasattr(self, "_keepalive"):  # a SavedModel's variables live as long as its loaded object
            new._keepalive = self._keepalive
        return new

    @property
    def input(self) -> TensorSpec:
        return self.inputs[0]

    def io_text(self) -> str:
        """The model's inputs and outputs with their shapes, for messages about names and data."""
        def dims(t: TensorSpec) -> str:
            return "(" + ",".join("?" if d is None else str(d) for d in t.shape) + ")"

        ins = ", ".join(f"{t.name} {dims(t)} {t.dtype}" for t in self.inputs)
        outs = ", ".join(f"{t.name} {dims(t)}" for t in self.outputs)
        aliases = list(getattr(self.keras_model, "output_names", None) or [])
        also = f" (Keras names: {', '.join(aliases)})" if aliases and len(aliases) == len(self.outputs) else ""
        return f"the model's inputs: {ins}; outputs: {outs}{also}"

    def output_index(self, name: str) -> int | None:
        """The output called ``name`` (edgekit's ``output_N``, or a Keras model's own output name)."""
        names = [t.name for t in self.outputs]
        if name in names:
            return names.index(name)
        aliases = list(getattr(self.keras_model, "output_names", None) or [])
        return aliases.index(name) if name in aliases and len(aliases) == len(names) else None

    def with_constants(self, values: dict[str, float]) -> SourceModel:
        """This model with the inputs in ``values`` frozen to constants (Keras/SavedModel: traced with the
        constant, so the converters fold it). ONNX sources freeze at load time instead."""
        from edgekit.models.constants import freeze_tf

        return freeze_tf(self, values)

    @property
    def is_classifier(self) -> bool:
        """One output of shape (batch, classes) with more than one class."""
        return len(self.outputs) == 1 and len(self.outputs[0].shape) == 2 and (self.outputs[0].shape[1] or 0) > 1
