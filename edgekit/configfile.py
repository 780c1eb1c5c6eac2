"""One reader for edgekit's YAML/TOML files (target profiles, build configs) and one formatter for pydantic
errors. Every failure is a :class:`ConfigError` with one line naming the file, the line and the fix.

Duplicate keys are refused in both formats: YAML's ``safe_load`` silently keeps the last one (a build config
with two models of the same name lost one), TOML already refuses them but says only "Cannot overwrite a value".
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from edgekit.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (*YAML_SUFFIXES, ".toml")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _yaml_loader():
    import yaml

    class _UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses a mapping key given twice (checked on the composed nodes, before merge keys
        ``<<`` are flattened: a merged-in key may still be overridden)."""

        def construct_document(self, node):
            _check_unique(node, yaml)
            return super().construct_document(node)

    return _UniqueKeyLoader


def _check_unique(root, yaml) -> None:
    stack, seen_nodes = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict = {}
            for key_node, value_node in node.value:
                stack += [key_node, value_node]
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                ident, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
                if ident in keys:
                    raise _Duplicate(key_node.value, line, keys[ident])
                keys[ident] = line
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


class _Duplicate(Exception):
    def __init__(self, key, line: int, first: int):
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def _toml_message(exc: Exception, text: str) -> str:
    """tomllib's message, with the duplicated key named when it says "Cannot overwrite"/"declare twice"."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", msg)
    if not m or not ("overwrite" in msg or "twice" in msg):
        return f"not valid TOML: {_one_line(msg)}"
    line_no = int(m.group(1))
    lines = text.splitlines()
    src = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
    key = src.split("=", 1)[0].strip() if "=" in src and not src.startswith("[") else src.strip("[] ")
    return f"line {line_no}: duplicate key {key!r} (already defined above); each key may appear once"


def parse_mapping(text: str, origin: str, suffix: str, what: str) -> dict:
    """Parse YAML (``.yaml``/``.yml``) or TOML (anything else) ``text`` into a mapping, refusing duplicate keys."""
    import tomllib

    fmt = "YAML" if suffix in YAML_SUFFIXES else "TOML"
    try:
        if fmt == "YAML":
            import yaml

            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        else:
            data = tomllib.loads(text)
    except _Duplicate as d:
        raise ConfigError(
            f"{what} {origin}: line {d.line}: duplicate key {d.key!r} (first at line {d.first}); each key may appear once"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {origin}: {_toml_message(exc, text)}") from None
    except Exception as exc:  # yaml.YAMLError; RecursionError/ValueError on pathological input
        raise ConfigError(f"{what} {origin}: not valid {fmt}: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {origin}: expected a mapping of fields at the top level")
    return data


def read_mapping(path: Path, what: str) -> dict:
    """Read a YAML/TOML file (by suffix) into a mapping; a missing, unreadable or non-UTF-8 file is a ConfigError."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{what} {path}: expected a .yaml, .yml or .toml file")
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_mapping(text, str(path), path.suffix, what)


def pydantic_errors(exc: ValidationError, what: str, *, with_fields: bool = True, flags: bool = False) -> ConfigError:
    """One ConfigError line for all of ``exc``'s field errors: ``WHAT is invalid: a.b: msg; c: msg``
    (``with_fields=False``: ``WHAT: msg; msg`` for models whose messages already name their flag;
    ``flags=True``: each field as its CLI flag, ``--calibration-method 'kl' is unknown; ...``)."""
    if flags:
        return ConfigError("; ".join(_as_flag(err) for err in exc.errors()))
    parts = []
    for err in exc.errors():
        msg = _one_line(err["msg"].removeprefix("Value error, "))
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {msg}" if with_fields and loc else msg)
    if with_fields:
        return ConfigError(f"{what} is invalid: " + "; ".join(parts))
    return ConfigError(f"{what}: " + "; ".join(parts))


def _as_flag(err) -> str:
    """One field error worded with its flag (the field's last name): ``onnx.calibration_method`` -> ``--calibration-method``."""
    msg = _one_line(err["msg"].removeprefix("Value error, "))
    if not err["loc"]:
        return msg
    flag = "--" + str(err["loc"][-1]).replace("_", "-")
    if err["type"] in ("enum", "literal_error"):
        return f"{flag} {err['input']!r} is unknown; {msg[0].lower()}{msg[1:]}"
    return f"{flag}: {msg}"
