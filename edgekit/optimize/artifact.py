"""What pruning left in the artifact: the weight tensors read back from the ``.tflite`` with LiteRT, matched
to the pruned Keras kernels, their measured sparsity, N:M blocks checked, and raw vs gzip size."""

from __future__ import annotations

import gzip

import numpy as np

WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1}  # op -> input index of its weights

HONEST_NOTE = (
    "Unstructured sparsity makes the artifact compress better (gzip_bytes), not smaller on disk or faster: "
    "TFLite/LiteRT CPU kernels run the zeros as dense weights. N:M sparsity likewise only speeds up a runtime "
    "with N:M sparse kernels."
)


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def tflite_layout(keras_kernel: np.ndarray, kind: str) -> np.ndarray:
    """A Keras kernel in the layout TFLite stores it: Conv/Dense (..., in, out) -> (out, ..., in);
    DepthwiseConv (kh, kw, in, mult) -> (1, kh, kw, in*mult)."""
    if kind == "depthwise":
        return keras_kernel.reshape((1,) + keras_kernel.shape[:-2] + (-1,))
    return np.moveaxis(keras_kernel, -1, 0)


def weight_tensors(data: bytes) -> list[dict]:
    """The weight tensor of every Conv/DepthwiseConv/FullyConnected op in a .tflite, as stored (int8, fp16, fp32)."""
    from edgekit.runtimes.litert import LiteRTRunner

    out = []
    with LiteRTRunner(data, default_delegates=False) as r:
        details = {t["index"]: t for t in r.tensor_details()}
        ops = r.ops()
        made_by = {o: op for op in ops for o in op["outputs"]}
        for op in ops:
            pos = WEIGHT_OPS.get(op["op_name"])
            if pos is None or len(op["inputs"]) <= pos:
                continue
            idx = int(op["inputs"][pos])
            src = made_by.get(idx)
            if src is not None and src["op_name"] == "DEQUANTIZE":  # fp16 weights are dequantized at load
                idx = int(src["inputs"][0])
            arr = r.tensor(idx)
            out.append({"op": op["op_name"], "tensor": details[idx]["name"], "dtype": str(arr.dtype), "array": arr})
    return out


def _match(expected_zeros: np.ndarray, candidates: list[dict]) -> tuple[dict | None, bool]:
    """The artifact tensor holding this kernel: same size, its zeros covering the kernel's zeros."""
    best, best_key = None, None
    for c in candidates:
        a = c["array"]
        if a.size != expected_zeros.size:
            continue
        z = (a.reshape(expected_zeros.shape) == 0) if a.shape != expected_zeros.shape else (a == 0)
        missing = int((expected_zeros & ~z).sum())
        extra = int((z & ~expected_zeros).sum())
        key = (missing, extra)
        if best_key is None or key < best_key:
            best, best_key = c, key
    return best, best_key is not None and best_key[0] == 0


def nm_violations(array: np.ndarray, n: int, m: int) -> int:
    """Blocks of M consecutive weights along TFLite's innermost (input-channel) axis with more than N non-zeros."""
    blocks = array.reshape(-1, m)
    return int(((blocks != 0).sum(axis=1) > n).sum())


def report(data: bytes, kernels: list[dict], nm: tuple[int, int] | None) -> dict:
    """``kernels``: {"layer", "kernel", "kind", "zeros" (Keras-layout bool array)} from the pruning phase."""
    tensors = weight_tensors(data)
    rows = []
    for k in kernels:
        expected = tflite_layout(k["zeros"], k["kind"])
        hit, preserved = _match(expected, tensors)
        row = {"layer": k["layer"], "kernel": k["kernel"], "keras_sparsity": float(k["zeros"].mean())}
        if hit is None:
            row.update({"tensor": None, "sparsity": None, "note": "no weight tensor of this size in the artifact"})
        else:
            a = hit["array"]
            row.update({
                "tensor": hit["tensor"], "dtype": hit["dtype"], "shape": list(a.shape),
                "sparsity": float((a == 0).mean()), "mask_preserved": preserved,
            })
            if nm is not None and a.shape[-1] % nm[1] == 0:
                row["nm_blocks"] = a.size // nm[1]
                row["nm_violations"] = nm_violations(a, *nm)
        rows.append(row)
    return {"bytes": len(data), "gzip_bytes": gzip_size(data), "kernels": rows}
