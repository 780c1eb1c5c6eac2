"""The emulated device environment: a Debian arm64 root + aarch64 runtime wheels, run under qemu-user.

Layout under :func:`env_root` (``$EDGEKIT_DEVICE_ENV``, default ``~/.cache/edgekit/device-env``)::

    roots/bookworm-aarch64/          Debian minbase root (debootstrap --foreign + dpkg -x), Python 3.11
    runtimes/<name>-<ver>-py<py>-<arch>/   the runtime's wheels and numpy 1.26.4, unzipped (PYTHONPATH)

Every piece is built in a temporary folder beside its final place and renamed into place when complete,
under a file lock: an interrupted setup leaves no half-built piece (its leftovers are removed next time).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict

from edgekit.errors import ConfigError, RuntimeUnavailableError
from edgekit.targets import DeviceRuntime

NUMPY_PIN = "numpy==1.26.4"  # tflite-runtime 2.14 crashes with numpy 2
SUITE_OF_PYTHON = {"3.11": "bookworm"}  # Debian release whose python3 is that version
DEB_ARCH = {"aarch64": "arm64"}
QEMU = {"aarch64": "qemu-aarch64-static"}
PLATFORMS = {"aarch64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_34_aarch64")}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_OK = ".edgekit-complete"

Progress = Callable[[str], None]


class DeviceEnv(BaseModel):
    """Where one runtime's emulated environment lies (all paths exist when returned by :func:`ensure`)."""

    model_config = ConfigDict(frozen=True)

    runtime: DeviceRuntime
    arch: str
    qemu: str
    root: Path
    python: Path  # inside root
    site: Path  # PYTHONPATH: the runtime's wheels and numpy

    def command(self, script: Path, *args: str, cpu: str | None = None) -> list[str]:
        cmd = [self.qemu, "-L", str(self.root)]
        if cpu:
            cmd += ["-cpu", cpu]
        return cmd + [str(self.python), "-s", str(script), *args]

    def environ(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        return {**keep, "PYTHONPATH": str(self.site), "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0"}


def env_root() -> Path:
    return Path(os.environ.get("EDGEKIT_DEVICE_ENV") or Path.home() / ".cache" / "edgekit" / "device-env")


def _support(runtime: DeviceRuntime, arch: str) -> tuple[str, str]:
    if arch not in DEB_ARCH:
        raise ConfigError(f"emulated validation supports arch aarch64 only, not {arch!r}")
    suite = SUITE_OF_PYTHON.get(runtime.python)
    if suite is None:
        raise ConfigError(
            f"{runtime.label}: emulated validation runs Debian bookworm's Python 3.11; "
            f"set python = \"3.11\" for this runtime (supported: {', '.join(SUITE_OF_PYTHON)})"
        )
    return suite, DEB_ARCH[arch]


def root_dir(runtime: DeviceRuntime, arch: str) -> Path:
    suite, _ = _support(runtime, arch)
    return env_root() / "roots" / f"{suite}-{arch}"


def site_dir(runtime: DeviceRuntime, arch: str) -> Path:
    return env_root() / "runtimes" / f"{runtime.name}-{runtime.version}-py{runtime.python}-{arch}"


def find(runtime: DeviceRuntime, arch: str) -> DeviceEnv | None:
    """The environment if it is already set up (nothing is installed)."""
    root, site = root_dir(runtime, arch), site_dir(runtime, arch)
    qemu = shutil.which(QEMU[arch])
    if not (qemu and (root / _OK).is_file() and (site / _OK).is_file()):
        return None
    return DeviceEnv(runtime=runtime, arch=arch, qemu=qemu, root=root, python=root / "usr/bin" / f"python{runtime.python}", site=site)


def ensure(runtime: DeviceRuntime, arch: str, progress: Progress | None = None) -> DeviceEnv:
    """The environment of ``runtime``, set up first if it is missing (minutes, once; then cached)."""
    env = find(runtime, arch)
    if env is not None:
        return env
    say = progress or (lambda msg: None)
    _support(runtime, arch)
    _require_tools(arch)
    with _locked():
        _clean_leftovers()
        if not (root_dir(runtime, arch) / _OK).is_file():
            _build_atomically(root_dir(runtime, arch), lambda tmp: _make_root(tmp, runtime, arch, say))
        if not (site_dir(runtime, arch) / _OK).is_file():
            _build_atomically(site_dir(runtime, arch), lambda tmp: _make_site(tmp, runtime, arch, say))
    env = find(runtime, arch)
    assert env is not None  # both pieces are complete now
    return env


def _require_tools(arch: str) -> None:
    missing = [t for t in (QEMU[arch], "debootstrap", "dpkg") if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if missing:
        raise RuntimeUnavailableError(
            f"emulated device validation needs {', '.join(missing)}: install them with "
            "`sudo apt-get install qemu-user-static debootstrap` (Debian/Ubuntu; .ci/setup does this), "
            "then run `edgekit device-env setup`"
        )


@contextmanager
def _locked() -> Iterator[None]:
    base = env_root()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clean_leftovers() -> None:
    """Remove temporary folders of interrupted setups (safe: called under the lock)."""
    for sub in ("roots", "runtimes"):
        for p in (env_root() / sub).glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def _build_atomically(final: Path, build: Callable[[Path], None]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build(tmp)
        (tmp / _OK).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        if final.exists():  # an incomplete older copy (no marker): replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def debian_mirror() -> str:
    """``$EDGEKIT_DEBIAN_MIRROR``, else the Debian mirror this machine's apt sources use."""
    if os.environ.get("EDGEKIT_DEBIAN_MIRROR"):
        return os.environ["EDGEKIT_DEBIAN_MIRROR"]
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.suffix in (".list", ".sources") or p.name == "sources.list":
            try:
                texts.append(p.read_text())
            except OSError:
                continue
    for uri in re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", "\n".join(texts), re.M):
        if re.search(r"/debian/?$", uri):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _run(cmd: list[str], what: str, timeout: float = 1800) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeUnavailableError(f"{what} took longer than {timeout:.0f} s; check the network and retry") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise RuntimeUnavailableError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _make_root(tmp: Path, runtime: DeviceRuntime, arch: str, say: Progress) -> None:
    suite, deb_arch = _support(runtime, arch)
    mirror = debian_mirror()
    if os.geteuid() != 0:
        raise RuntimeUnavailableError(
            "building the emulated Debian root needs root (debootstrap): run `sudo edgekit device-env setup` "
            f"once, or point EDGEKIT_DEVICE_ENV at a folder prepared that way (now: {env_root()})"
        )
    say(f"debootstrap {suite} {deb_arch} minbase + python3 from {mirror} …")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    _run([debootstrap, "--foreign", f"--arch={deb_arch}", "--variant=minbase", "--include=python3", suite, str(tmp), mirror],
         f"debootstrap from {mirror} (set EDGEKIT_DEBIAN_MIRROR to use another mirror)")
    debs = sorted((tmp / "var/cache/apt/archives").glob("*.deb"))
    say(f"unpacking {len(debs)} packages …")
    for deb in debs:
        _run(["dpkg", "-x", str(deb), str(tmp)], f"dpkg -x {deb.name}")
        deb.unlink()
    python = tmp / "usr/bin" / f"python{runtime.python}"
    if not python.exists():
        raise RuntimeUnavailableError(f"the {suite} root has no {python.name} after unpacking; delete {env_root()} and retry")


def _make_site(tmp: Path, runtime: DeviceRuntime, arch: str, say: Progress) -> None:
    wheels = tmp / "_wheels"
    spec = f"{runtime.name}=={runtime.version}"
    say(f"pip download {spec} {NUMPY_PIN} for {arch}, Python {runtime.python} …")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", runtime.python, "--implementation", "cp", "-d", str(wheels)]
    for plat in PLATFORMS[arch]:
        cmd += ["--platform", plat]
    try:
        _run(cmd + [spec, NUMPY_PIN], f"pip download of {spec} for {arch} / Python {runtime.python}", timeout=900)
    except RuntimeUnavailableError as exc:
        if "from versions" in str(exc) or "No matching distribution" in str(exc):
            raise ConfigError(f"{exc}\n(the registry has no wheel of {spec} for {arch} / Python {runtime.python}; "
                              "name a version it lists)") from None
        raise
    for whl in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(tmp)
    shutil.rmtree(wheels)
