"""Conversion time per precision and host LiteRT latency of the built-in example (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/bench_convert.py --benchmark-json benchmarks/results/convert.json

Latency here is HOST latency (this x86 machine, LiteRT CPU), labelled as such; it is not Raspberry Pi latency.
The emulated device check (``--device-check``, auto when ``edgekit device-env setup`` was run) is off here:
it runs the artifact under qemu, seconds per conversion, and did not exist before the typed core.
The same file also runs against the keyword API from before the typed core (commit 44f0ad7), so one script
measures both sides of that change: copy it into a checkout of that commit and run it there.
"""

import platform

import numpy as np
import pytest

from edgekit import api
from edgekit.runtimes.litert import LiteRTRunner

PRECISIONS = ["fp32", "fp16", "dynamic", "int8", "int16x8"]


def convert(model, *, target, output_dir, **options):
    """``api.convert(model, target, ConvertOptions(...), output_dir)``; on a pre-core checkout, the keyword API."""
    try:
        from edgekit.options import ConvertOptions
    except ImportError:  # before the typed core: keyword arguments
        return api.convert(model, target=target, output_dir=output_dir, **options)
    fields = {k: str(v) if k in ("calibration", "eval_data") else v for k, v in options.items()}
    opts = ConvertOptions.make(device_check="off", **fields)  # the emulated device run is its own stage, timed apart
    return api.convert(model, target, opts, output_dir, overwrite=True)


def manifest(r) -> dict:
    m = r.manifest
    return m if isinstance(m, dict) else m.model_dump(mode="json")


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
    m = manifest(r)
    benchmark.extra_info["bytes"] = m["artifacts"][0]["bytes"]
    benchmark.extra_info["accuracy"] = m["validation"]["accuracy"]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_host_latency(benchmark, example, tmp_path, precision):
    r = convert(example.model, target="rpi", precision=precision, calibration=example.train, output_dir=tmp_path)
    x = np.load(example.test)["x"][:1]
    with LiteRTRunner(r.artifact_paths[0], threads=1) as rt:
        benchmark.extra_info.update(where=f"host {platform.machine()}, LiteRT CPU, 1 thread — NOT a Raspberry Pi")
        benchmark(rt.infer, [x])
