"""Conversion time per precision and host LiteRT latency of the built-in example (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/bench_convert.py --benchmark-json benchmarks/results/convert.json

Latency here is HOST latency (this x86 machine, LiteRT CPU), labelled as such; it is not Raspberry Pi latency.
"""

import platform

import numpy as np
import pytest

from edgekit.api import convert
from edgekit.runtimes.litert import LiteRTRunner

PRECISIONS = ["fp32", "fp16", "dynamic", "int8", "int16x8"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from edgekit.example import make_example

    return make_example(tmp_path_factory.mktemp("ex"), epochs=12)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_convert_time(benchmark, example, tmp_path, precision):
    benchmark.extra_info.update(where=f"host {platform.machine()} ({platform.processor() or 'cpu'})", what="convert")
    r = benchmark.pedantic(
        convert, args=(example.model,),
        kwargs=dict(target="rpi", precision=precision, calibration=example.train, eval_data=example.test,
                    output_dir=tmp_path),
        rounds=3, iterations=1,
    )
    benchmark.extra_info["bytes"] = r.manifest["artifacts"][0]["bytes"]
    benchmark.extra_info["accuracy"] = r.manifest["validation"]["accuracy"]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_host_latency(benchmark, example, tmp_path, precision):
    r = convert(example.model, target="rpi", precision=precision, calibration=example.train, output_dir=tmp_path)
    x = np.load(example.test)["x"][:1]
    with LiteRTRunner(r.artifact_paths[0], threads=1) as rt:
        benchmark.extra_info.update(where=f"host {platform.machine()}, LiteRT CPU, 1 thread — NOT a Raspberry Pi")
        benchmark(rt.infer, [x])
