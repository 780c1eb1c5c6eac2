"""Shared fixtures: real models trained once per session on real data (no mocks of any runtime)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# device-runtime checks under emulation are opted into by the tests that exercise them (device_check="on")
os.environ["EDGEKIT_DEVICE_CHECK"] = "off"
REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def example(tmp_path_factory):
    """The built-in example: digits CNN trained for real, with train.npz / test.npz beside it."""
    from edgekit.example import make_example

    return make_example(tmp_path_factory.mktemp("example"), seed=0, epochs=12)


@pytest.fixture(scope="session")
def encoder(tmp_path_factory):
    """A quantization-sensitive transformer encoder trained on Fashion-MNIST rows (tests/sensitive_nets.py)."""
    from sensitive_nets import Encoder

    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (run .ci/setup)")
    return Encoder(tmp_path_factory.mktemp("encoder"))


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (Debian's dataset-fashion-mnist): ((x_train, y_train), (x_test, y_test)), uint8."""
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (run .ci/setup)")
    return (
        (_idx(FASHION / "train-images-idx3-ubyte.gz"), _idx(FASHION / "train-labels-idx1-ubyte.gz")),
        (_idx(FASHION / "t10k-images-idx3-ubyte.gz"), _idx(FASHION / "t10k-labels-idx1-ubyte.gz")),
    )


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes and stdout as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.fixture(scope="session")
def bench_models(example, tmp_path_factory):
    """The example CNN as artifacts to benchmark: int8 .tflite (int8 IO), fp32 .tflite and fp32 .onnx."""
    from types import SimpleNamespace

    import kw

    out = tmp_path_factory.mktemp("bench_models")
    i8 = kw.convert(example.model, target="rpi", output_dir=out / "int8", calibration=example.train, eval_data=example.test)
    f32 = kw.convert(example.model, target="rpi", output_dir=out / "fp32", precision="fp32", eval_data=example.test)
    onnx = kw.convert(example.model, target="rpi", output_dir=out / "onnx", precision="fp32", formats=["onnx"])
    with np.load(example.test) as z:
        n_test = len(z["y"])
    return SimpleNamespace(
        int8=i8.artifact_paths[0],
        fp32=f32.artifact_paths[0],
        onnx=onnx.artifact_paths[0],
        test=example.test,
        n_test=n_test,
        int8_accuracy=i8.manifest.to_json()["validation"]["accuracy"]["artifact"],
        fp32_accuracy=f32.manifest.to_json()["validation"]["accuracy"]["artifact"],
    )


@pytest.fixture(scope="session")
def digits_onnx(example, tmp_path_factory):
    """The trained example CNN rebuilt by hand with onnx.helper (NCHW, dynamic batch), NCHW data beside it."""
    from types import SimpleNamespace

    import onnx_nets

    d = tmp_path_factory.mktemp("digits_onnx")
    weights = onnx_nets.keras_weights(example.model)
    return SimpleNamespace(
        weights=weights,
        model=onnx_nets.save(onnx_nets.digits_graph(weights), d / "digits_by_hand.onnx"),
        train=onnx_nets.nchw_npz(example.train, d / "train_nchw.npz"),
        test=onnx_nets.nchw_npz(example.test, d / "test_nchw.npz"),
        dir=d,
    )


def run_cli_interrupted(*args: str, when: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess and send it SIGINT (Ctrl-C) once ``when`` appears on its stderr."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"},
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if when in line:
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "".join(seen) + stderr)


@pytest.fixture(scope="session", autouse=True)
def every_manifest_validates(tmp_path_factory):
    """At the end of the session: every manifest.json the tests wrote validates against the shipped schema."""
    yield
    import json

    import jsonschema

    from edgekit.manifest import SCHEMA_VERSION, shipped_schema

    schema, bad, n = shipped_schema(), [], 0
    for path in tmp_path_factory.getbasetemp().rglob("manifest.json"):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue  # a test's deliberately broken file
        if not (isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION):
            continue
        n += 1
        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError as exc:
            bad.append(f"{path}: {exc.message}")
    assert not bad, f"{len(bad)} of {n} manifests do not validate against the schema:\n" + "\n".join(bad[:5])


@pytest.fixture(scope="session")
def rpi_device_envs():
    """The emulated aarch64 environments of the rpi profile's device runtimes (set up once, then cached under
    $EDGEKIT_DEVICE_ENV or ~/.cache/edgekit/device-env; a fresh machine builds them: about 40 s here)."""
    import shutil as _sh

    from edgekit.device.env import ensure
    from edgekit.targets import load_target

    if not (_sh.which("qemu-aarch64-static") and (_sh.which("debootstrap") or Path("/usr/sbin/debootstrap").exists())):
        pytest.skip("qemu-user-static and debootstrap are not installed (run .ci/setup)")
    profile = load_target("rpi")
    return profile, [ensure(rt, profile.arch) for rt in profile.device_runtimes]
