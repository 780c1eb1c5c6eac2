"""The one machine label (edgekit.bench.where), used by bench, report and sweep."""

from __future__ import annotations

from edgekit.bench.where import machine_label, where_line

PI = {"board": "Raspberry Pi 4 Model B Rev 1.4", "cpu": "Cortex-A72", "arch": "aarch64", "cores": 4,
      "hostname": "pi", "via": "ssh://pi@10.0.0.2"}
HOST = {"board": None, "cpu": "AMD EPYC", "arch": "x86_64", "cores": 2, "hostname": "ci-1"}


def test_machine_label_prefers_the_board_and_names_the_host():
    assert machine_label(PI) == "Raspberry Pi 4 Model B Rev 1.4 (aarch64, 4 cores, host pi)"
    assert machine_label(HOST) == "AMD EPYC (x86_64, 2 cores, host ci-1)"


def test_machine_label_of_partial_or_missing_where():
    assert machine_label({"arch": "x86_64"}) == "unknown CPU (x86_64, ? cores, host ?)"
    assert machine_label(None) == "unknown machine"
    assert machine_label("a label already") == "a label already"


def test_where_line_says_host_latency_is_not_a_targets():
    line = where_line({"where": HOST})
    assert line.startswith("measured on THIS machine, AMD EPYC (x86_64, 2 cores, host ci-1). ")
    assert "not the latency of a Raspberry Pi" in line and "--device ssh://" in line


def test_where_line_names_the_device():
    assert where_line({"where": PI}) == (
        "measured on the device ssh://pi@10.0.0.2, Raspberry Pi 4 Model B Rev 1.4 (aarch64, 4 cores, host pi)")
