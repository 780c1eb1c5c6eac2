"""Headless Chromium (Debian's ``chromium``) screenshots for the HTML/PNG rendering tests."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, out: Path, size: tuple[int, int]) -> np.ndarray:
    """Render ``html`` (a local file) at ``size`` (w, h); the screenshot as an RGB uint8 array."""
    from PIL import Image

    profile = out.parent / f".{out.stem}-profile"  # own profile dir: runs never share browser state
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
           f"--window-size={size[0]},{size[1]}", html.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and out.is_file(), f"chromium failed ({res.returncode}): {res.stderr[-800:]}"
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


def decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def non_blank(rgb: np.ndarray) -> bool:
    """More than a flat background: real pixel variance and more than a handful of colours."""
    flat = rgb.reshape(-1, 3)
    return float(rgb.astype(np.float64).std()) > 10.0 and len(np.unique(flat[:: max(1, len(flat) // 50000)], axis=0)) > 20
