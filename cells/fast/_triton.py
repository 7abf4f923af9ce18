"""Triton, imported only when a fused kernel is about to run (CUDA, or TRITON_INTERPRET=1)."""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the CPU paths never need it
    triton = tl = None


def available(device: torch.device) -> bool:
    """Whether the fused kernels can run for tensors on `device`."""
    if triton is None:
        return False
    if device.type == "cuda":
        return True
    return os.environ.get("TRITON_INTERPRET") == "1" and device.type == "cpu"


# Tuning knobs the GPU benchmark script varies; None means the rule below.
OVERRIDES: dict = {"precision": None, "num_warps": None, "tile": None}


def precision() -> str:
    """tl.dot precision for float32: full float32 ("ieee") unless the user allowed tf32 for
    matmuls. Plain tf32 is not offered silently: over 784 norm-preserving steps it moved
    the orthogonal cells' outputs by 1e-1 (benchmarks/NOTES.md)."""
    if OVERRIDES["precision"]:
        return OVERRIDES["precision"]
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


def launch_options(width: int) -> dict:
    """num_warps for a kernel whose widest tile is `width` columns."""
    if OVERRIDES["num_warps"]:
        return {"num_warps": OVERRIDES["num_warps"]}
    return {"num_warps": 8 if width >= 128 else 4}


if triton is not None:

    @triton.jit
    def tanh(x):
        # libdevice is missing in the interpreter; exp(-2|x|) never overflows.
        e = tl.exp(-2.0 * tl.abs(x))
        r = (1.0 - e) / (1.0 + e)
        return tl.where(x >= 0, r, -r)
else:
    tanh = None
