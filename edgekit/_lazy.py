"""Quiet, lazy imports of the heavy libraries, and capture of native stderr chatter."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


def tf():
    """Import TensorFlow with its C++ log chatter turned down (only when first needed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable float results across runs
    if "tensorflow" not in sys.modules:
        with capture_native_stderr():  # "Could not find cuda drivers" & co. are printed before logging is set up
            import tensorflow
    import tensorflow

    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with tensorflow
        pass
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def keras():
    tf()
    import keras as _keras

    return _keras


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow/Keras, and make TF's kernels deterministic."""
    keras().utils.set_random_seed(seed)
    tf().config.experimental.enable_op_determinism()


class Captured:
    text: str = ""


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[Captured]:
    """Redirect file descriptor 2 (where the TFLite/MLIR converter writes) into a buffer.

    The converter's diagnostics are kept in ``Captured.text`` so an error message can quote them, instead
    of spraying hundreds of lines over the user's terminal.
    """
    cap = Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield cap
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            cap.text = tmp.read().decode("utf-8", "replace")
