"""The typed manifest and its published JSON Schema: the shipped copy equals the models' schema, and every
manifest.json this test session writes validates against it (checked at the end of the session, conftest)."""

import json

import pytest

from edgekit.cli import main
from edgekit.manifest import SCHEMA_VERSION, Manifest, manifest_schema, shipped_schema


def test_shipped_schema_is_the_models_schema():
    assert shipped_schema() == manifest_schema(), (
        "edgekit/schemas/manifest.schema.json is stale: regenerate it with "
        "`edgekit schema manifest > edgekit/schemas/manifest.schema.json`"
    )


def test_schema_command_prints_it(capsys):
    main(["schema", "manifest"])  # returns normally (exit code 0)
    assert json.loads(capsys.readouterr().out) == shipped_schema()


def test_a_written_manifest_reads_back_typed_and_validates(bench_models):
    import jsonschema

    path = bench_models.int8.parent / "manifest.json"
    data = json.loads(path.read_text())
    jsonschema.validate(data, shipped_schema())
    m = Manifest.read(path)
    assert m.schema_version == SCHEMA_VERSION and m.passed is True
    a = m.artifacts[0]
    assert a.gate.passed and {c.name for c in a.gate.checks} >= {"cosine", "accuracy_drop"}
    assert a.io_dtype == "int8" and a.validation.runtime.name == "litert"
    # the keys other tools read stay where they were
    assert {"path", "format", "precision"} <= set(data["artifacts"][0])
    assert {"max_abs_error", "cosine", "top1_agreement", "accuracy"} <= set(data["validation"])
    assert {"source", "artifact"} <= set(data["validation"]["accuracy"])
    with pytest.raises(ValueError):
        Manifest.model_validate({**data, "artifacts": [{**data["artifacts"][0], "bytes": "many"}]})
