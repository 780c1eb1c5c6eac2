"""Tests call the engine through the public API with keyword options (as the earlier API took them):
this maps them onto one ConvertOptions, so each test still states only what it cares about."""

from __future__ import annotations

from edgekit import api
from edgekit.options import ConvertOptions

_RENAMED = {"image_options": "image", "unsafe": "unsafe_deserialization"}


def options(**kw) -> ConvertOptions:
    fields = {}
    for k, v in kw.items():
        if v is None:
            continue
        if k == "emit_options":
            fields["onnx"] = dict(v)
        elif k == "load_options":
            fields.update({f: v[f] for f in ("input_shape", "signature") if f in v})
        elif k == "optimize":
            fields["optimize"] = v.model_dump() if hasattr(v, "model_dump") else v
        elif k == "image_options":
            fields["image"] = v.model_dump() if hasattr(v, "model_dump") else v
        else:
            fields[_RENAMED.get(k, k)] = str(v) if k in ("calibration", "eval_data") else v
    return ConvertOptions.make(**fields)


def convert(model_path, *, target="rpi", output_dir="out", model=None, on_stage=None, overwrite=True, **kw):
    """``api.convert`` with keyword options. ``overwrite`` defaults on: tests reuse folders on purpose."""
    progress = (lambda s, d, t: on_stage(s)) if on_stage else None
    extra = {"progress": progress} if progress else {}
    return api.convert(model_path, target, options(**kw), output_dir, source=model, overwrite=overwrite, **extra)
