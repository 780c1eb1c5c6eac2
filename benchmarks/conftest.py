"""Keep recorded benchmark JSON small: statistics only, not every raw timing."""


def pytest_benchmark_update_json(config, benchmarks, output_json):
    for b in output_json.get("benchmarks", []):
        b.get("stats", {}).pop("data", None)
