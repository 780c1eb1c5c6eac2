"""Known-bad patterns of device runtimes: detection, the zero-bias rewrite, and the crash it prevents
(real models on Fashion-MNIST, real aarch64 runtimes under qemu-user)."""

from __future__ import annotations

import numpy as np
import pytest

from device_models import bias_free_dense_tflite, sequences
from edgekit.device.check import host_outputs
from edgekit.device.quirks import detect, fix, known_quirks
from edgekit.device.runner import agreement, run_on_device
from edgekit.targets import load_target


@pytest.fixture(scope="module")
def bias_free(fashion):
    return bias_free_dense_tflite(fashion, use_bias=False)


def test_every_quirk_names_an_existing_test():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for q in known_quirks():
        path, _, name = q.test.partition("::")
        assert f"def {name}(" in (root / path).read_text(), q.id


def test_detects_the_bias_free_int8_dense_only_for_tflite_runtime(bias_free):
    rpi = load_target("rpi")
    found = detect(bias_free, rpi.device_runtimes, "aarch64")
    assert [(f.quirk, f.runtime, f.op, f.fixed) for f in found] == [
        ("int8-fully-connected-without-bias", "tflite-runtime", "FULLY_CONNECTED", False)
    ]
    assert detect(bias_free, rpi.device_runtimes, "x86_64") == []  # the quirk is aarch64's


def test_a_dense_with_a_real_bias_does_not_match(fashion):
    data = bias_free_dense_tflite(fashion, use_bias=True)  # trained: the bias is non-zero, the converter keeps it
    assert detect(data, load_target("rpi").device_runtimes, "aarch64") == []


def test_rewrite_is_deterministic_and_leaves_host_outputs_identical(fashion, bias_free):
    rpi = load_target("rpi")
    fixed, found = fix(bias_free, detect(bias_free, rpi.device_runtimes, "aarch64"))
    again, _ = fix(bias_free, detect(bias_free, rpi.device_runtimes, "aarch64"))
    assert fixed == again and fixed != bias_free and all(f.fixed for f in found)
    assert detect(fixed, rpi.device_runtimes, "aarch64") == []
    x = [sequences(fashion, 0, 50)[2]]
    (a,), _ = host_outputs(bias_free, x)
    (b,), _ = host_outputs(fixed, x)
    assert np.array_equal(a, b)


def test_int8_fc_without_bias_crashes_and_zero_bias_fixes_it(fashion, bias_free, rpi_device_envs):
    profile, envs = rpi_device_envs
    tfl = next(e for e in envs if e.runtime.name == "tflite-runtime")
    x = [sequences(fashion, 0, 32)[2]]
    crashed = run_on_device(bias_free, x, tfl, cpu=profile.emulation_cpu)
    assert (crashed.status, crashed.signal, crashed.outputs) == ("crashed", "SIGSEGV", None)
    fixed, _ = fix(bias_free, detect(bias_free, profile.device_runtimes, "aarch64"))
    ran = run_on_device(fixed, x, tfl, cpu=profile.emulation_cpu)
    assert ran.status == "ran" and ran.version == "2.14.0" and ran.outputs[0].shape == (32, 10)
    host, quant = host_outputs(bias_free, x)
    agree = agreement(ran.outputs, host, quant)
    assert agree.top1_agreement >= 0.95 and agree.cosine > 0.99
