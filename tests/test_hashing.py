import json
import os
import stat

import numpy as np

from edgekit.hashing import atomic_write_bytes, atomic_write_json, sha256_array, sha256_path


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    p = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [q.name for q in p.parent.iterdir()] == ["a.bin"]  # no temp files left
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}


def test_hashes_are_content_based(tmp_path):
    a = np.arange(6, dtype=np.float32)
    assert sha256_array(a) == sha256_array(a.copy()) != sha256_array(a.reshape(2, 3))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x")
    h = sha256_path(tmp_path / "d")
    (tmp_path / "d" / "f").write_bytes(b"y")
    assert sha256_path(tmp_path / "d") != h
