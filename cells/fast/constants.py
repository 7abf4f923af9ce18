"""Tensors a fast cell would otherwise rebuild on every call, kept between calls.

The fused-rnn path needs, besides the input, tensors that depend only on Python values:
the filter's (T, T) decay or restart matrix and its filtered constant channel (functions
of T, mu or the restart period, and s), the zero input bias and adam's identity input
weight (functions of G). Building them costs a dozen small ops and kernel launches per
call, in front of the cuDNN kernel, where the GPU waits for the host (an H200 profile of
momentum-lstm at H = 128: 5.3 ms of GPU work in a 6.5 ms iteration).

`Constants` keeps them on the cell (a plain attribute, not a buffer: not in the
state_dict, not moved by `.to`; the device and dtype are part of each key). While
torch.compile or torch.export traces, nothing is read or stored: the traced program builds
them from its inputs (mu as a tensor when compiling, see `compiled`), so no cached value
of one trial is baked into code that another trial reuses.
"""

from __future__ import annotations

from typing import Callable, Hashable

import torch
from torch import Tensor

__all__ = ["Constants"]


class Constants:
    """A small per-cell store: key -> tensor, made once by `get`, the oldest dropped first.

    Keys must hold everything the tensor depends on (shape, dtype, device, values): a cell
    moved to another device or given another T simply makes new entries; `size` bounds
    what the cell keeps (a (784, 784) float32 matrix is 2.4 MB)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._store: dict[Hashable, Tensor] = {}

    def get(self, key: Hashable, make: Callable[[], Tensor]) -> Tensor:
        """The tensor stored under `key`, made by `make()` the first time; `make()` itself,
        unstored, while torch.compile / torch.export trace."""
        if torch.compiler.is_compiling():
            return make()
        value = self._store.get(key)
        if value is None:
            # made outside inference mode and autograd: usable by any later call, training included
            with torch.inference_mode(False), torch.no_grad():
                value = make()
            if len(self._store) >= self.size:
                del self._store[next(iter(self._store))]
            self._store[key] = value
        return value

    def __len__(self) -> int:
        return len(self._store)
