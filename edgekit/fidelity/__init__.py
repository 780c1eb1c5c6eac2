"""Fidelity beyond the model's output: per-layer quantization error and accuracy-aware mixed precision."""
