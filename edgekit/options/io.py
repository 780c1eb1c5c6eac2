"""Parsing of the model-IO flags: ``--input-value NAME=VALUE`` and ``--state OUT:IN`` (both repeatable)."""

from __future__ import annotations


def parse_values(items) -> dict[str, float]:
    """``["sr=16000", ...]`` -> {"sr": 16000.0}; a bad item raises ValueError (pydantic names the flag)."""
    out: dict[str, float] = {}
    for item in items or ():
        name, eq, value = str(item).partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not eq or not name.strip() or number is None:
            raise ValueError(f"{item!r}: expected NAME=NUMBER, e.g. sr=16000")
        out[name.strip()] = number
    return out


def parse_state(value) -> tuple[tuple[str, str], ...]:
    """``"new_state:state"`` / ``["h_out:h_in", ...]`` / pairs -> ((output, input), ...)."""
    if not value:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    pairs = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            out, inp = (str(v).strip() for v in item)
        else:
            out, _, inp = str(item).rpartition(":")
            out, inp = out.strip(), inp.strip()
        if not out or not inp:
            raise ValueError(f"{item!r}: expected OUTPUT:INPUT (the output fed back into the input next step), "
                             "e.g. new_state:state")
        pairs.append((out, inp))
    ins = [p[1] for p in pairs]
    if len(set(ins)) != len(ins):
        raise ValueError(f"{', '.join(ins)}: each state input may be fed by one output only")
    return tuple(pairs)
