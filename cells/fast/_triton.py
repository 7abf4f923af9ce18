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


def precision() -> str:
    """tl.dot precision for float32: full float32 unless the user allowed tf32 for matmuls."""
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


if triton is not None:

    @triton.jit
    def tanh(x):
        # libdevice is missing in the interpreter; exp(-2|x|) never overflows.
        e = tl.exp(-2.0 * tl.abs(x))
        r = (1.0 - e) / (1.0 + e)
        return tl.where(x >= 0, r, -r)
else:
    tanh = None
