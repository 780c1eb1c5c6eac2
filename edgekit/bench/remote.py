"""Run the harness on a device over ssh: copy harness + model to a temp folder there, run it with the
device's Python, fetch the JSON, clean up.

Why the system OpenSSH ``ssh``/``scp`` binaries rather than paramiko: they honour the user's
``~/.ssh/config`` (aliases, ports, ProxyJump), the running ssh-agent and hardware keys, and check host keys
against the ``known_hosts`` the user already trusts, with OpenSSH's own rules. Every Linux device has
them, and edgekit needs no extra dependency. Host keys are verified (``StrictHostKeyChecking=yes``) unless
the user opts in to trusting a NEW host's key (``--accept-new-host-key`` -> ``accept-new``; a CHANGED key is
still refused). ``BatchMode=yes``: no password prompts that would hang. Every remote argument goes
through :func:`shlex.quote`. One multiplexed connection (ControlMaster) serves all the steps.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgekit.bench.options import ERRORS, HARNESS_FILE, BenchOptions, harness_path
from edgekit.progress import Progress
from edgekit.errors import ConfigError, DeviceError, EdgekitError

RESULT = "result.json"
_SAFE_DIR = re.compile(r"^/[A-Za-z0-9._/-]+$")


@dataclass(frozen=True)
class SshDevice:
    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, url: str) -> SshDevice:
        """``ssh://[user@]host[:port]`` (host may be an alias from ~/.ssh/config)."""
        try:
            u = urlsplit(url)
            port = u.port
        except ValueError as exc:
            raise ConfigError(f"--device {url!r}: {exc}; expected ssh://user@host[:port]") from None
        if u.scheme != "ssh" or not u.hostname:
            raise ConfigError(f"--device {url!r}: expected ssh://user@host[:port], e.g. ssh://pi@raspberrypi.local")
        if u.password is not None:
            raise ConfigError(f"--device {url!r}: passwords in the URL are not supported; use a key (--identity)")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise ConfigError(f"--device {url!r}: no path or query allowed; expected ssh://user@host[:port]")
        if u.hostname.startswith("-") or (u.username or "").startswith("-"):
            raise ConfigError(f"--device {url!r}: host and user must not start with '-'")
        return cls(host=u.hostname, user=u.username, port=port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def scp_destination(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}:{path}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user + '@' if self.user else ''}{host}{f':{self.port}' if self.port else ''}"


@dataclass(frozen=True)
class SshOptions:
    identity: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_key: bool = False
    remote_python: str = "python3"
    connect_timeout: int = 15
    timeout: float | None = None  # seconds for the benchmark itself; also bounds the connection

    def __post_init__(self) -> None:
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigError(f"--timeout {self.timeout}: must be a number of seconds > 0")

    @property
    def connect_seconds(self) -> int:
        """ssh's ConnectTimeout (TCP connect and the SSH banner): at most --timeout, whole seconds, >= 1."""
        if self.timeout is None:
            return self.connect_timeout
        return max(1, math.ceil(min(float(self.connect_timeout), self.timeout)))


class SshSession:
    """One multiplexed OpenSSH connection to ``device``; a context manager that closes it."""

    def __init__(self, device: SshDevice, options: SshOptions):
        for tool in ("ssh", "scp"):
            if shutil.which(tool) is None:
                raise DeviceError(f"the OpenSSH client ({tool}) is not installed here: apt-get install openssh-client")
        if options.identity is not None and not Path(options.identity).is_file():
            raise ConfigError(f"--identity {options.identity} does not exist")
        self.device, self.options = device, options
        # a short path: a control socket's path must fit in ~100 bytes (a long $TMPDIR would not)
        self._ctl = tempfile.mkdtemp(prefix="ek-ssh-", dir="/tmp" if os.path.isdir("/tmp") else None)

    def _opts(self) -> list[str]:
        o = self.options
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={o.connect_seconds}"]
        opts += ["-o", f"StrictHostKeyChecking={'accept-new' if o.accept_new_host_key else 'yes'}"]
        if o.known_hosts is not None:
            opts += ["-o", f"UserKnownHostsFile={Path(o.known_hosts).resolve()}"]
        if o.identity is not None:
            opts += ["-i", str(Path(o.identity).resolve()), "-o", "IdentitiesOnly=yes"]
        opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self._ctl}/%C", "-o", "ControlPersist=120"]
        return opts

    def _ssh(self) -> list[str]:
        port = ["-p", str(self.device.port)] if self.device.port else []
        return ["ssh", *self._opts(), *port, "--", self.device.destination]

    def run(self, argv: list[str] | str, *, check: bool = True, timeout: float | None = 60) -> subprocess.CompletedProcess:
        """Run a remote command: a list is quoted word by word; a string must already be quoted."""
        cmd = argv if isinstance(argv, str) else shlex.join(argv)
        try:
            p = subprocess.run([*self._ssh(), cmd], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.device}: no answer within {timeout:.0f} s to: {cmd}") from None
        if p.returncode == 255:
            raise DeviceError(_ssh_failure(self.device, p.stderr, self.options))
        if check and p.returncode != 0:
            raise DeviceError(f"{self.device}: `{cmd}` exited {p.returncode}: {_tail(p.stderr)}")
        return p

    def put(self, files: dict[str, Path], remote_dir: str) -> None:
        """Copy local files to ``remote_dir`` under the given (safe, fixed) names."""
        with tempfile.TemporaryDirectory(prefix="ek-put-") as stage:
            for name, src in files.items():
                dst = Path(stage) / name
                try:
                    dst.hardlink_to(Path(src).resolve())
                except OSError:
                    shutil.copyfile(src, dst)
            port = ["-P", str(self.device.port)] if self.device.port else []
            srcs = [str(Path(stage) / n) for n in files]
            p = subprocess.run(["scp", "-q", *self._opts(), *port, "--", *srcs, self.device.scp_destination(remote_dir + "/")],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise DeviceError(_ssh_failure(self.device, p.stderr, self.options) if p.returncode == 255 else
                              f"{self.device}: copying files failed: {_tail(p.stderr)}")

    def close(self) -> None:
        subprocess.run([*self._ssh()[:-2], "-O", "exit", "--", self.device.destination], capture_output=True, stdin=subprocess.DEVNULL)
        shutil.rmtree(self._ctl, ignore_errors=True)

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


def _ssh_failure(device: SshDevice, stderr: str, o: SshOptions) -> str:
    msg = f"ssh to {device} failed: {_tail(stderr)}"
    kh = f" -f {o.known_hosts}" if o.known_hosts else ""
    port = f" -p {device.port}" if device.port else ""
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        msg += (
            f". The device's host key is not in known_hosts{' ' + str(o.known_hosts) if o.known_hosts else ''} "
            f"(or it changed). Check its fingerprint (ssh-keyscan{port} {device.host} | ssh-keygen -lf -), then add "
            f"it (ssh-keyscan{port} {device.host} >> ~/.ssh/known_hosts, or ssh-keygen{kh} -R to drop a stale one), "
            "or pass --accept-new-host-key to trust a new device on first use"
        )
    elif "Permission denied" in stderr:
        msg += ". Authentication failed: pass --identity KEY (its public key must be in the device's authorized_keys)"
    elif "timed out" in stderr:
        src = " (from --timeout)" if o.timeout is not None else ""
        msg += f" (waited {o.connect_seconds} s{src}). Is the device on, sshd running, and the host/port right?"
    elif "Connection refused" in stderr or "Could not resolve" in stderr:
        msg += ". Is the device on, sshd running, and the host/port right?"
    return msg


def bench_remote(model: str | Path, device: SshDevice, ssh: SshOptions, options: BenchOptions,
                 progress: Progress | None = None) -> dict:
    """Copy harness + model (+ data) to a fresh temp folder on ``device``, run, fetch the JSON, remove the folder.

    Ctrl-C while it runs: the harness on the device gets SIGINT, writes its partial result, which is
    fetched and returned (``"interrupted": true``)."""
    model = Path(model)
    stage = progress or (lambda *_: None)
    files = {HARNESS_FILE: harness_path(), f"model{model.suffix.lower()}": model}
    if options.inputs is not None:
        files[f"inputs{Path(options.inputs).suffix}"] = Path(options.inputs)
    if options.eval_data is not None:
        files[f"eval{Path(options.eval_data).suffix}"] = Path(options.eval_data)
    names = list(files)
    argv = [ssh.remote_python, HARNESS_FILE, *options.harness_argv(
        names[1],
        inputs=next((n for n in names if n.startswith("inputs")), None),
        eval_data=next((n for n in names if n.startswith("eval")), None),
    ), "--json", RESULT]
    with SshSession(device, ssh) as s:
        stage("connect", 0, 1)
        rdir = s.run(["mktemp", "-d", "/tmp/edgekit-bench.XXXXXXXX"]).stdout.strip()
        if not _SAFE_DIR.match(rdir):
            raise DeviceError(f"{device}: mktemp -d returned an unexpected path {rdir!r}")
        q = shlex.quote(rdir)
        try:
            stage("copy", 0, 1)
            s.put(files, rdir)
            stage("run", 0, 1)
            # $$ is the shell's pid; exec keeps it for python, so `kill -INT $(cat pid)` reaches the harness.
            cmd = f"cd {q} && echo $$ > pid && exec {shlex.join(argv)}"
            rc, err = _run_streaming(s, cmd, ssh.timeout, stage, f"kill $(cat {q}/pid) 2>/dev/null")
            if rc is None:  # Ctrl-C here: the harness there stops, writes its partial result, we fetch it
                s.run(f"kill -INT $(cat {q}/pid) 2>/dev/null; i=0; while [ ! -e {q}/{RESULT} ] && [ $i -lt 100 ]; "
                      "do sleep 0.1; i=$((i+1)); done", check=False)
                rc = 130
            elif rc == "timeout":
                raise DeviceError(f"{device}: the benchmark ran longer than --timeout {ssh.timeout:g} s and was stopped")
            if rc == 255:
                raise DeviceError(_ssh_failure(device, err, ssh))
            if rc == 2 and "error" in err:
                raise _harness_error(device, err)
            if rc == 127:
                raise DeviceError(f"{device}: {ssh.remote_python!r} was not found there; pass --remote-python /path/to/python3")
            if rc not in (0, 130):
                raise DeviceError(f"{device}: the harness exited {rc}: {_tail(err, 12)}")
            stage("fetch", 0, 1)
            fetched = s.run(["cat", f"{rdir}/{RESULT}"], check=False)
            if fetched.returncode != 0 and rc == 130:
                raise KeyboardInterrupt  # stopped before any timed run: nothing to report
            if fetched.returncode != 0:
                raise DeviceError(f"{device}: the harness wrote no result ({_tail(err)})")
            result = json.loads(fetched.stdout)
        finally:
            s.run(["rm", "-rf", "--", rdir], check=False)
    result["where"]["via"] = str(device)
    result["model"]["remote_path"] = result["model"]["path"]
    result["model"]["path"] = str(model)
    return result


def _run_streaming(s: SshSession, cmd: str, timeout: float | None, stage, stop: str) -> tuple:
    """Run ``cmd`` on the device, turning the harness's "edgekit-harness: STAGE (N)" lines into progress.
    Returns (exit code, other stderr); (None, ...) on Ctrl-C, ("timeout", ...) past ``timeout`` seconds,
    after running ``stop`` there (through a multiplexed connection the master, not the local ssh, holds
    the remote command's output: only stopping the command there ends it)."""
    proc = subprocess.Popen([*s._ssh(), cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    fired = threading.Event()

    def on_timeout():
        fired.set()
        s.run(stop, check=False)
        proc.kill()

    timer = threading.Timer(timeout, on_timeout) if timeout else None
    if timer:
        timer.start()
    err: list[str] = []
    try:
        for line in proc.stderr:
            m = re.match(r"edgekit-harness: (\w+) \((\d+)\)", line)
            if m:
                stage(m.group(1), 0, int(m.group(2)))
            else:
                err.append(line)
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        proc.wait()
        return None, "".join(err)
    finally:
        if timer:
            timer.cancel()
    if fired.is_set():
        return "timeout", "".join(err)
    return rc, "".join(err)


def _harness_error(device: SshDevice, stderr: str) -> EdgekitError:
    line = next((ln for ln in reversed(stderr.splitlines()) if ln.startswith("error")), _tail(stderr))
    m = re.match(r"error \((\w+)\): (.*)", line)
    kind, text = (m.group(1), m.group(2)) if m else ("runtime", line.removeprefix("error: "))
    return ERRORS.get(kind, DeviceError)(f"on {device}: {text}")
