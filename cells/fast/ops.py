"""`custom_op`: a function made a torch custom op `momnas::NAME` with its fake and its autograd.

Every kernel of `cells.fast` is registered this way, so that torch.compile and torch.export
treat a whole time loop as one opaque call: the op (`torch.library.custom_op`), its fake
(`register_fake`: output shapes for tracing) and, for a forward, its derivative
(`register_autograd`, usually through the matching backward op) in one place.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["custom_op"]


def custom_op(name: str, fake: Callable, backward: Callable | None = None,
              setup_context: Callable | None = None) -> Callable:
    """Decorator: `fn` -> the custom op `momnas::<name>` (no mutated arguments), computing as `fake`
    on fake tensors and, with `backward`, differentiable as `register_autograd(backward,
    setup_context=setup_context)` says."""
    def register(fn: Callable) -> torch.library.CustomOpDef:
        op = torch.library.custom_op(f"momnas::{name}", fn, mutates_args=())
        op.register_fake(fake)
        if backward is not None:
            op.register_autograd(backward, setup_context=setup_context)
        return op
    return register
