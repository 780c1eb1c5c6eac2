"""Device runtimes in profiles (known wheels), the emulated environment's set-up rules, ``edgekit device-env``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from edgekit.device import env as device_env
from edgekit.errors import ConfigError, RuntimeUnavailableError
from edgekit.targets import DeviceRuntime, load_target

PROFILE = """name = "mypi"
description = "d"
runtime = "litert"
precision = "int8"
allowed_precisions = ["int8"]
arch = "aarch64"
device_runtimes = [{ name = "tflite-runtime", version = "%s", python = "%s" }]
"""


def test_rpi_profiles_name_their_device_runtimes():
    for name in ("rpi", "rpi5"):
        p = load_target(name)
        assert p.arch == "aarch64"
        assert [(r.name, r.version, r.python) for r in p.device_runtimes] == [
            ("tflite-runtime", "2.14.0", "3.11"), ("ai-edge-litert", "1.4.0", "3.11")]


def test_a_runtime_version_without_a_wheel_names_what_exists(tmp_path):
    f = tmp_path / "mypi.toml"
    f.write_text(PROFILE % ("2.15.0", "3.11"))
    with pytest.raises(ConfigError, match=r"device_runtimes: tflite-runtime 2.15.0 has no aarch64 wheel for Python 3.11\. "
                       r"aarch64 wheels of tflite-runtime that exist: Python 3.9: .*2.14.0; Python 3.10: 2.13.0, 2.14.0; "
                       r"Python 3.11: 2.14.0"):
        load_target(f)
    f.write_text(PROFILE % ("2.14.0", "3.12"))
    with pytest.raises(ConfigError, match=r"no aarch64 wheel for Python 3.12.*Python 3.11: 2.14.0"):
        load_target(f)
    f.write_text(PROFILE % ("2.14.0", "3.11"))
    assert load_target(f).device_runtimes[0].version == "2.14.0"


def test_cli_exits_2_on_a_profile_with_no_wheel(tmp_path):
    f = tmp_path / "mypi.toml"
    f.write_text(PROFILE % ("2.15.0", "3.11"))
    r = run_cli("device-env", "setup", "--target", str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "2.15.0 has no aarch64 wheel" in r.stderr and "Python 3.11: 2.14.0" in r.stderr


def test_targets_json_shows_device_runtimes():
    import json

    r = run_cli("targets", "--json")
    rpi = next(p for p in json.loads(r.stdout) if p["name"] == "rpi")
    assert rpi["arch"] == "aarch64" and rpi["device_runtimes"][1] == {"name": "ai-edge-litert", "version": "1.4.0", "python": "3.11"}


def test_missing_qemu_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEVICE_ENV", str(tmp_path / "env"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-aarch64-static on it
    with pytest.raises(RuntimeUnavailableError, match=r"needs qemu-aarch64-static.*apt-get install qemu-user-static debootstrap"):
        device_env.ensure(DeviceRuntime(name="tflite-runtime", version="2.14.0"), "aarch64")
    assert not (tmp_path / "env" / "roots").exists()


def test_unsupported_python_for_emulation_is_a_config_error():
    with pytest.raises(ConfigError, match=r"Debian bookworm's Python 3.11"):
        device_env.root_dir(DeviceRuntime(name="tflite-runtime", version="2.14.0", python="3.10"), "aarch64")


def test_an_interrupted_build_leaves_nothing_and_leftovers_are_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEVICE_ENV", str(tmp_path))
    final = tmp_path / "runtimes" / "x"

    def build(tmp: Path):
        (tmp / "half").mkdir(parents=True)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        device_env._build_atomically(final, build)
    assert not final.exists() and list((tmp_path / "runtimes").iterdir()) == []
    stale = tmp_path / "runtimes" / ".tmp-y-123"  # a killed process leaves its temp folder
    stale.mkdir()
    with device_env._locked():
        device_env._clean_leftovers()
    assert not stale.exists()
    device_env._build_atomically(final, lambda tmp: tmp.mkdir())
    assert (final / ".edgekit-complete").is_file()


def test_mirror_comes_from_apt_sources_or_env(monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert device_env.debian_mirror() == "http://mirror.example/debian"
    monkeypatch.delenv("EDGEKIT_DEBIAN_MIRROR")
    assert device_env.debian_mirror().endswith("/debian")


def test_device_env_status_shows_the_cache(tmp_path):
    r = run_cli("device-env", "status", "--target", "rpi")
    assert r.returncode == 0 and "tflite-runtime==2.14.0 (Python 3.11)" in r.stdout and "cache:" in r.stdout
