"""The one registry mechanism: lazy entries, names(), one unknown-name message; every registered entry imports."""

import pytest

from edgekit.errors import ConfigError
from edgekit.registry import COMMANDS, EMITTERS, LOADERS, REPORT_FORMATS, RUNTIMES, Registry
from edgekit.workflows.sweep.plan import VARIANTS


def test_lazy_entries_import_on_first_use_and_unknown_names_list_the_known():
    r = Registry("widget", "See the docs")
    r.register("json", "json:dumps", kind="text")
    r.register("obj", {"a": 1})
    assert r.names() == ("json", "obj") and "json" in r and len(r) == 2
    assert r.get("json")([1]) == "[1]" and r.get("obj") == {"a": 1} and r.meta("json") == {"kind": "text"}
    with pytest.raises(ConfigError, match=r"unknown widget 'yaml'; choose from json, obj\. See the docs"):
        r.get("yaml")
    with pytest.raises(ValueError, match="unknown widget 'x'"):
        r.check("x")
    with pytest.raises(ValueError, match="registered twice"):
        r.register("json", "json:loads")


@pytest.mark.parametrize("registry", [LOADERS, EMITTERS, RUNTIMES, REPORT_FORMATS, COMMANDS, VARIANTS],
                         ids=lambda r: r.kind)
def test_every_registered_entry_imports(registry):
    for entry in registry:
        obj = entry.load()
        assert obj is not None, entry.name
        if registry is LOADERS:
            assert callable(getattr(obj, entry.meta.get("sniff", "sniff"))) and callable(obj.load)
        elif registry is not VARIANTS:
            assert callable(obj)
