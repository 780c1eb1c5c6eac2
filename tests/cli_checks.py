"""Shared checks for bad-input CLI runs: exit code, ONE `error:` line on stderr, no traceback, and an output
folder left exactly as it was (snapshot of every file's path, size, mode and content hash)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (or the file itself): relative path -> (kind, mode, sha256 of content)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    if folder.is_file():
        return {".": ("file", folder.stat().st_mode, hashlib.sha256(folder.read_bytes()).hexdigest())}
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_dir():
            out[rel] = ("dir", p.stat().st_mode, "")
        else:
            out[rel] = ("file", p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def assert_bad_input(p: subprocess.CompletedProcess, *, fragment: str | None = None, code: int = 2,
                     only: bool = False) -> str:
    """Exit ``code``, no traceback, exactly one line starting ``error:`` on stderr and it is the last one (lines
    before it may be progress, e.g. ``load (1)…``; ``only``: nothing else at all). Returns that line."""
    lines = error_lines(p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr[-3000:]
    assert p.returncode == code, (p.returncode, p.stderr[-3000:])
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], p.stderr[-3000:]
    if only:
        assert len(lines) == 1, p.stderr[-3000:]
    if fragment is not None:
        assert fragment in errors[0], errors[0]
    return errors[0]
