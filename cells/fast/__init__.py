"""Fast implementations of the cells: `build_cell(cfg, impl="auto")`.

Same parameters, state_dict and outputs as the reference cells (to rounding); the work
that does not depend on h leaves the time loop (chunked scans in `filters`), rnn / lstm /
gru recur in PyTorch's fused RNN operators (cuDNN on CUDA), and the other cores run their
time loop in one Triton kernel on CUDA where one exists (`triton_*` modules, imported
only when a kernel is about to run). See `auto` for how a path is chosen.
"""

from . import kernels  # noqa: F401  (declares the Triton paths; imports no Triton)
from .auto import PATHS, FastPath, accelerate, choose, register_path
from .filters import adam_term, decay_filter, momentum_filter, nag_filter, restart_filter

__all__ = ["accelerate", "choose", "PATHS", "FastPath", "register_path", "decay_filter", "momentum_filter", "nag_filter", "adam_term",
           "restart_filter"]
