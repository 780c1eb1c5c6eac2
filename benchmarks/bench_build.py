"""``edgekit build`` of examples/ci (2 models × 2 targets): a cold build, a warm one (every cell reused from
its cache key) and ``edgekit report`` on the result (pytest-benchmark, in one process: TensorFlow's import
is not counted).

    .venv/bin/python -m pytest benchmarks/bench_build.py --benchmark-json benchmarks/results/build.json
"""

import itertools
import platform
import shutil
from pathlib import Path

import pytest

from edgekit.workflows.build.runner import build
from edgekit.report import make_report, write_report

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "ci" / "edgekit.yaml"
WHERE = f"host {platform.machine()} ({platform.processor() or 'cpu'}), {__import__('os').cpu_count()} cores"


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    out = tmp_path_factory.mktemp("warm") / "build"
    build(CONFIG, out)
    return out


def test_cold_build(benchmark, tmp_path):
    runs = itertools.count()

    def fresh():
        out = tmp_path / f"b{next(runs)}"
        shutil.rmtree(out, ignore_errors=True)
        return (CONFIG, out), {}

    res = benchmark.pedantic(build, setup=fresh, rounds=3, iterations=1)
    assert res.index["summary"]["built"] == 4
    benchmark.extra_info.update(where=WHERE, what="build 4 cells from scratch (convert + validate each)")


def test_warm_build_reuses_every_cell(benchmark, warm):
    res = benchmark.pedantic(build, args=(CONFIG, warm), rounds=5, iterations=1)
    assert res.index["summary"]["cached"] == 4
    benchmark.extra_info.update(where=WHERE, what="rebuild with unchanged inputs: hash inputs, verify, reuse")


def test_report_all_formats(benchmark, warm, tmp_path):
    def run():
        rep = make_report(warm)
        return write_report(rep, ["md", "html", "json", "junit"], tmp_path / "report")

    assert len(benchmark.pedantic(run, rounds=5, iterations=1)) == 4
    benchmark.extra_info.update(where=WHERE, what="report: md + html (matplotlib plot) + json + junit")
