"""``edgekit bench --device ssh://…`` for real: an OpenSSH server started on 127.0.0.1 by the test, host and
user keys made here, and a remote Python venv holding only tflite-runtime 2.14 + numpy<2 (what many
Raspberry Pi setups run). No mock of ssh, scp or any runtime."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli, run_cli_interrupted
from edgekit.bench.remote import SshDevice
from edgekit.errors import ConfigError

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
TFLRT, NUMPY1 = "2.14.0", "1.26.4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on a free loopback port; yields (url, user key, known_hosts line, folder)."""
    if os.geteuid() != 0:
        pytest.skip("the loopback sshd test runs as root (as here and in CI): sshd needs root to switch users")
    if not Path(SSHD).is_file() or shutil.which("ssh-keygen") is None:
        pytest.skip("openssh-server is not installed (run .ci/setup)")
    d = tmp_path_factory.mktemp("sshd")
    host_pub = _keygen(d / "host_key")
    (d / "authorized_keys").write_text(_keygen(d / "user_key") + "\n")
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "UsePAM no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege-separation folder sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(d / "sshd.log", "w"))
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd did not start: {(d / 'sshd.log').read_text()}")
            time.sleep(0.1)
    known = d / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    yield {"url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}", "key": d / "user_key", "known_hosts": known,
           "host_line": host_pub, "dir": d}
    proc.terminate()
    proc.wait(timeout=10)


def _base_python() -> str | None:
    """A python3 <= 3.11 (tflite-runtime 2.14 ships wheels up to cp311): Debian's if it fits, else this one."""
    for cand in ("/usr/bin/python3", sys.executable):
        out = subprocess.run([cand, "-c", "import sys, venv, ensurepip; print(sys.version_info[:2] <= (3, 11))"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == "True":
            return cand
    return None


@pytest.fixture(scope="session")
def tflrt_python():
    """A venv with ONLY tflite-runtime 2.14.0 and numpy<2, cached by version under ~/.cache/edgekit-test."""
    venv = Path.home() / ".cache" / "edgekit-test" / f"tflrt-venv-tflite_runtime-{TFLRT}-numpy-{NUMPY1}"
    py = venv / "bin" / "python"
    probe = ["-c", "import tflite_runtime, numpy; assert numpy.__version__.startswith('1.'); print(tflite_runtime.__version__)"]
    if py.is_file() and subprocess.run([str(py), *probe], capture_output=True).returncode == 0:
        return py
    base = _base_python()
    if base is None:
        pytest.skip("no python3 <= 3.11 here: tflite-runtime 2.14.0 has no wheel for newer Pythons")
    tmp = venv.with_name(venv.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(tmp)], check=True)
    pip = subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          f"tflite-runtime=={TFLRT}", f"numpy=={NUMPY1}"], capture_output=True, text=True)
    if pip.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"pip could not install tflite-runtime=={TFLRT} numpy=={NUMPY1}: {pip.stderr.strip()[-300:]}")
    shutil.rmtree(venv, ignore_errors=True)
    tmp.rename(venv)  # venvs hold absolute paths in scripts; bin/python is a symlink and works after the move
    assert subprocess.run([str(py), *probe], capture_output=True).returncode == 0
    return py


def _ssh_args(sshd, *more):
    return ["--device", sshd["url"], "--identity", sshd["key"], "--known-hosts", sshd["known_hosts"], *more]


def _leftovers() -> set[str]:
    return {p.name for p in Path("/tmp").glob("edgekit-bench.*")}


def test_remote_bench_on_tflite_runtime_214_numpy1(sshd, tflrt_python, bench_models, tmp_path):
    before = _leftovers()
    out = tmp_path / "bench.json"
    p = run_cli("bench", bench_models.int8, *_ssh_args(sshd, "--remote-python", tflrt_python), "--threads", "2",
                "--runs", "30", "--eval-data", bench_models.test, "--json", out)
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())
    assert r["schema"] == "edgekit.bench/1"
    assert (r["runtime"]["name"], r["runtime"]["version"]) == ("tflite_runtime", TFLRT)
    assert r["where"]["numpy"].startswith("1.") and r["where"]["via"] == sshd["url"]
    assert r["model"]["sha256"] == hashlib.sha256(bench_models.int8.read_bytes()).hexdigest()
    assert r["model"]["path"] == str(bench_models.int8) and r["runs"] == 30 and r["threads"] == 2
    assert 0 < r["latency_ms"]["min"] <= r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] <= r["latency_ms"]["max"]
    # tflite-runtime 2.14 rounds some int8 steps differently from LiteRT 2.3: accuracy close, not identical
    assert r["accuracy"]["samples"] == bench_models.n_test
    assert abs(r["accuracy"]["top1"] - bench_models.int8_accuracy) <= 0.02
    assert "measured on the device ssh://" in p.stdout
    assert _leftovers() == before  # the device's temp folder was removed


def test_unknown_host_key_is_refused_unless_accepted(sshd, bench_models, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    args = ["bench", bench_models.fp32, "--device", sshd["url"], "--identity", sshd["key"], "--known-hosts", kh,
            "--remote-python", sys.executable, "--runs", "5"]
    p = run_cli(*args)
    assert p.returncode == 2
    assert "host key" in p.stderr and "--accept-new-host-key" in p.stderr
    p = run_cli(*args, "--accept-new-host-key")
    assert p.returncode == 0, p.stderr
    assert sshd["host_line"].split()[1] in kh.read_text()  # trusted on first use, now pinned
    kh.write_text(f"[127.0.0.1]:{sshd['url'].rsplit(':', 1)[1]} {_keygen(tmp_path / 'other')}\n")
    p = run_cli(*args, "--accept-new-host-key")  # a CHANGED key is refused even with the opt-in
    assert p.returncode == 2 and "host key" in p.stderr


def test_remote_arguments_are_quoted(sshd, bench_models, tmp_path):
    """A remote python path full of shell syntax runs as that one path; nothing in it is executed."""
    name = f"edgekit-pwned-{os.getpid()}"  # no '/' in a folder name: `cd` (home) then touch
    canary = Path.home() / name
    odd = tmp_path / f"py dir;cd;touch {name};$(cd;touch {name})`cd;touch {name}`'\""
    odd.mkdir()
    (odd / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (odd / "python").chmod(0o755)
    p = run_cli("bench", bench_models.fp32, *_ssh_args(sshd, "--remote-python", odd / "python"), "--runs", "5")
    assert p.returncode == 0, p.stderr
    assert not canary.exists()


def test_remote_harness_error_is_reported_with_exit_2(sshd, tflrt_python, bench_models):
    p = run_cli("bench", bench_models.fp32, *_ssh_args(sshd, "--remote-python", tflrt_python), "--accelerator", "gpu")
    assert p.returncode == 2
    assert "CompiledModel" in p.stderr and sshd["url"] in p.stderr


def test_missing_remote_python_is_explained(sshd, bench_models):
    p = run_cli("bench", bench_models.fp32, *_ssh_args(sshd, "--remote-python", "/nonexistent/python3"))
    assert p.returncode == 2 and "--remote-python" in p.stderr


def test_remote_ctrl_c_fetches_the_partial_result(sshd, bench_models, tmp_path):
    out = tmp_path / "partial.json"
    # the harness's stage lines come back over ssh as progress: SIGINT once it is timing on the device
    p = run_cli_interrupted("bench", bench_models.fp32, *_ssh_args(sshd, "--remote-python", sys.executable),
                            "--runs", "100000000", "--json", out, when="timing (100000000)")
    assert p.returncode == 130, p.stderr
    r = json.loads(out.read_text())
    assert r["interrupted"] is True and 0 < r["runs"] < 100000000
    assert r["where"]["via"] == sshd["url"] and r["latency_ms"]["p50"] > 0
    assert "INTERRUPTED" in p.stdout


def test_remote_timeout_stops_the_benchmark(sshd, bench_models):
    p = run_cli("bench", bench_models.fp32, *_ssh_args(sshd, "--remote-python", sys.executable), "--runs", "100000000",
                "--timeout", "3")
    assert p.returncode == 2 and "ran longer than --timeout 3 s" in p.stderr


def test_sweep_on_the_device_measures_accuracy_with_its_runtime(sshd, tflrt_python, example, tmp_path):
    """The sweep's --device path: latency AND accuracy from tflite-runtime 2.14 / numpy 1.x over ssh."""
    p = run_cli("sweep", example.model, "--target", "rpi", "--calibration", example.train, "--eval-data", example.test,
                "-o", tmp_path, "--variants", "tflite-fp32,tflite-int8", "--runs", "20", "--warmup", "2", "--threads", "1",
                *_ssh_args(sshd, "--remote-python", tflrt_python))
    assert p.returncode == 0, p.stderr
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["where"]["via"] == sshd["url"] and data["threads"] == 1
    for r in data["rows"]:
        assert r["status"] == "ok" and r["runtime"]["name"] == "tflite_runtime"
        assert r["accuracy"] == r["device_accuracy"]["top1"] and r["accuracy_measured_with"].startswith("tflite_runtime 2.14.0")
        assert abs(r["accuracy"] - r["validation"]["accuracy"]["artifact"]) <= 0.02
    assert data["recommended"] in {"tflite-fp32", "tflite-int8"}
    assert f"measured on the device {sshd['url']}" in (tmp_path / "sweep.md").read_text()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("pi@raspberrypi.local", "expected ssh://"),
        ("http://pi@host", "expected ssh://"),
        ("ssh://pi:secret@host", "passwords"),
        ("ssh://pi@host/tmp", "no path"),
        ("ssh://-oProxyCommand=x@host", "must not start with '-'"),
        ("ssh://pi@host:notaport", "expected ssh://"),
    ],
)
def test_device_url_errors_name_the_fix(url, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SshDevice.parse(url)


def test_device_url_round_trip():
    d = SshDevice.parse("ssh://pi@raspberrypi.local:2222")
    assert (d.user, d.host, d.port, str(d)) == ("pi", "raspberrypi.local", 2222, "ssh://pi@raspberrypi.local:2222")
    assert SshDevice.parse("ssh://mypi").destination == "mypi"  # an ~/.ssh/config alias
    assert SshDevice.parse("ssh://pi@[::1]:22").scp_destination("/tmp/x") == "pi@[::1]:/tmp/x"
