"""`impl="auto"`: the same cell, parameters and state_dict, with the fastest exact forward.

`accelerate(cell)` turns a reference cell into its fast twin in place (its class becomes a
cached subclass that overrides `forward`), so `state_dict`, `parameters`, `isinstance` and
the per-step methods are unchanged. The forward picks, per core and device:

- rnn / lstm / gru: PyTorch's fused RNN operators (cuDNN on CUDA, the native loop on the
  CPU) on the filtered stream; from LSTM_KERNEL_MIN_H units an LSTM runs the Triton LSTM
  kernel instead (its step split over programs: faster than cuDNN there). Linear dynamics (plain, momentum, input-form NAG) filter the
  input x and a constant 1 and feed cuDNN the input weight `s [W_ih | b_ih]` (REFERENCE §6);
  adam / rmsprop, nonlinear in g, feed the filtered g through an identity input weight.
  The operator runs time-major (batch_first=False), and adam's wide stream (4H features
  for the LSTM) is filtered time-major from the start (`triton_adam`, a one-pass kernel):
  with batch_first=True cuDNN transposed it in and its gradient out, copies that an H200
  profile of adam-lstm at H = 128 put at ~0.7-0.8 ms of a 7.9 ms training iteration.
- cores with a fused Triton kernel (on CUDA, or TRITON_INTERPRET=1): the hoisted filter,
  then the whole time loop in one kernel (declared in `kernels`).
- the paper-form NAG (its filter depends on h): on CUDA a whole-loop Triton kernel for
  the LSTM (a path declared with `paper=True`), the reference loop otherwise.
- everything else: the hoisted filter, then the core's own step in a Python loop (exact,
  the dynamics' work out of the loop); calls that pass a state run the reference loop.

Each core declares its paths in `PATHS` (`register_path`); every path says what one layer
does, and `cells.cell.run_layers` (the layer loop the reference uses too) runs the layers.

The path taken is recorded in `cell.fast_path` (the benchmark prints it).
"""

from __future__ import annotations

import warnings
from typing import Callable, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from cells.cell import Cell, CellState, LayerFn, run_layers

from . import compiled, hoist
from .constants import Constants


class FastPath(NamedTuple):
    """One fast way to run one layer of a core from the zero state (see `register_path`).

    name: what `cell.fast_path` records ("fused-rnn", "triton", ...); layer: a
    `cells.cell.LayerFn` (it starts from the zero state: it is passed the core's zero state,
    which it may use, and an empty filter state, since every path filters from zero itself);
    ready(x): whether it runs for this input (dtype, device); paper: it serves the paper-form
    NAG (whose filter needs h) instead of the hoistable dynamics.
    """

    name: str
    layer: LayerFn
    ready: Callable[[Tensor], bool]
    paper: bool = False


# core name -> its fast paths, the preferred first; cores and dynamics without a ready one
# take `HOISTED` (hoistable dynamics) or the reference loop (the paper-form NAG).
PATHS: dict[str, list[FastPath]] = {}


def register_path(core: str, path: FastPath) -> None:
    """Declare a fast path for `core`; paths registered earlier are preferred."""
    PATHS.setdefault(core, []).append(path)


_RNN_OPS = {"lstm": "lstm", "gru": "gru", "rnn": "rnn_tanh"}

# The fused RNN op is given weights assembled for this call ([W | b], an identity), not a
# module's flattened buffer, so cuDNN copies them into one chunk every call (a few hundred KB,
# measured in the benchmark) and says so; the advice it gives (flatten_parameters) does not apply.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")


LSTM_KERNEL_MIN_H = 256  # LSTMs at least this wide run the Triton LSTM kernel where it runs: faster than cuDNN there


def _fused_rnn(cell: Cell, layer: Cell, x: Tensor, state, _dyn, _t0):
    """rnn / lstm / gru through torch's fused RNN operator on the filtered stream, from the
    core state passed in (the zero state) and a zero filter state; an LSTM of at least
    LSTM_KERNEL_MIN_H units through the Triton LSTM kernel instead, where it runs
    (`_lstm_kernel`; the path is then recorded as "triton").

    The operator runs time-major (batch_first=False): the filtered streams are made (T, B, F)
    by `hoist.linear_input` / `hoist.adam_from_input`, so neither they nor their gradients
    are transposed. The output comes back as a (B, T, H) view of the (T, B, H) result, as
    `nn.LSTM(batch_first=True)` returns it. At B = 128, T = 784 the GPU waits for the host
    until the operator is called: what comes before it is kept to a few ops (tensors that
    depend on no input come from `cell.fast_constants`), and the final filter state, which
    training does not read, is computed after it."""
    name = _RNN_OPS[cell.config.core]
    dyn, constants = cell.dynamics, cell.fast_constants
    W, U, b, bh = cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0, cell.bias_hh_l0
    kernel = name == "lstm" and U.shape[1] >= LSTM_KERNEL_MIN_H and triton_ready(x)
    G = b.shape[0]
    if isinstance(dyn, hoist.Plain):
        inp, w_ih, b_ih, dyn_state = x.transpose(0, 1), W, b, ()
    else:
        b_ih = constants.get(("zeros", G, b.dtype, b.device), lambda: torch.zeros_like(b))
        if hoist.linear(dyn):
            inp = hoist.linear_input(dyn, x, constants)  # (T, B, I + 1): s [x~, 1~]
            w_ih = torch.cat([W, b[:, None]], dim=1)  # (G, I + 1)
        else:
            inp, dyn_state = hoist.adam_from_input(dyn, x, W, b, constants)  # (T, B, G); (v_T, r_T) (B, G)
            w_ih = None if kernel else constants.get(("eye", G, b.dtype, b.device),
                                                     lambda: torch.eye(G, dtype=b.dtype, device=b.device))
    if kernel:
        cell.fast_path = "triton"
        out, core = _lstm_kernel(inp, w_ih, b_ih, bh, U, constants)
    else:
        h0 = (state[0] if cell.config.core == "lstm" else state).unsqueeze(0)  # (1, B, H) zeros
        weights = [w_ih, U, b_ih, bh]
        flags = dict(has_biases=True, num_layers=1, dropout=0.0, train=torch.is_grad_enabled(), bidirectional=False,
                     batch_first=False)
        if cell.config.core == "lstm":
            out, h, c = compiled.fused_rnn(name, inp, (h0, h0), weights, **flags)
            core = (h[0], c[0])
        else:
            out, h = compiled.fused_rnn(name, inp, h0, weights, **flags)
            core = h[0]
        out = out.transpose(0, 1)
    if hoist.linear(dyn) and not isinstance(dyn, hoist.Plain):  # after the operator: off the GPU's critical path
        dyn_state = (torch.nn.functional.linear(inp[-1], w_ih),)  # v_T (B, G)
    return out, core, dyn_state


def _lstm_kernel(inp: Tensor, w_ih: Tensor | None, b_ih: Tensor, bh: Tensor, U: Tensor, constants: Constants):
    """The LSTM over a time-major stream inp (T, B, F) with input weight w_ih (None: inp is
    already the gates' input part, adam / rmsprop) through the Triton kernel of the
    paper-form NAG LSTM with c_t = 0, which is the LSTM fed -sg as its input part.
    -> (out (B, T, H), (h_T, c_T))."""
    from .triton_nag_lstm import nag_lstm_fwd

    if w_ih is None:
        sg = torch.neg(inp.transpose(0, 1).contiguous())  # (B, T, 4H)
    else:  # the projection batch-major, negated through the (small) weights
        sg = torch.nn.functional.linear(inp.transpose(0, 1), -w_ih, -b_ih)
    T = inp.shape[0]
    zero = constants.get(("zeros", T, inp.dtype, inp.device), lambda: inp.new_zeros(T))  # c_t
    Hs, Cs, _, _ = nag_lstm_fwd(sg, U, bh, zero)
    return Hs[:, 1:], (Hs[:, -1], Cs[:, -1])


def _hoisted_layer(cell: Cell, layer, x: Tensor, state, dyn, t0):
    """Any core with a hoistable dynamics: filter for all steps at once, then the core's step."""
    a, dyn_state = hoist.hoisted(cell.dynamics, layer.project(x))  # (B, T, G)
    out, state = compiled.step_loop(layer, a, state)
    return out, state, dyn_state


def triton_ready(x: Tensor) -> bool:
    """Whether a Triton kernel runs for x: float32 on CUDA, or on the CPU under TRITON_INTERPRET=1."""
    from ._triton import available

    return x.dtype == torch.float32 and available(x.device)


HOISTED = FastPath("hoisted", _hoisted_layer, lambda x: True)
for _core in _RNN_OPS:
    register_path(_core, FastPath("fused-rnn", _fused_rnn, lambda x: True))


def _path(cell: Cell, x: Tensor) -> FastPath | None:
    """The first ready path declared for this core and dynamics; None: the reference loop."""
    paper = not hoist.hoistable(cell.dynamics)  # paper-form NAG: only a whole-loop kernel helps
    for path in PATHS.get(cell.config.core, ()):
        if path.paper == paper and path.ready(x):
            return path
    return None if paper else HOISTED


def choose(cell: Cell, x: Tensor) -> str:
    """The path `auto` takes for this cell and input: "fused-rnn", "triton", "hoisted" or "reference"."""
    path = _path(cell, x)
    return "reference" if path is None else path.name


class FastCell(Cell):
    """Mixin placed before the reference class: same parameters, faster forward."""

    fast_path: str = "unused"
    reference_class: ClassVar[type]  # the class `fast_class` extended: what a pickled fast cell is rebuilt as

    @property
    def dynamics(self):
        """The cell's dynamics; while compiling, with tensor values (see `compiled.traced_dynamics`).

        Read from `eager_dynamics`, not `self.__dict__["dynamics"]`: dynamo in torch 2.11 traces
        `obj.__dict__[name]` as `getattr(obj, name)`, which is this property again (a
        RecursionError at the first compiled step)."""
        return compiled.traced_dynamics(self, self.eager_dynamics)

    def __reduce_ex__(self, protocol):
        # The fast class is made at run time: pickle (torch.save, deepcopy) what the
        # reference cell pickles (its class and dict, or for parametrized cells its config
        # and weights, see Cell.__reduce_ex__), and accelerate again on load.
        # The constants kept between calls are not pickled: they are made again on use.
        if parametrize.is_parametrized(self):
            return (_accelerated, super().__reduce_ex__(protocol))
        attributes = {k: v for k, v in self.__dict__.items() if k != "fast_constants"}
        return (_restore, (self.reference_class, attributes))

    def forward(self, x: Tensor, state: CellState | None = None) -> tuple[Tensor, CellState]:
        if state is not None:  # carrying a state across calls: the reference loop, exactly
            self.fast_path = "reference"
            return super().forward(x, state)
        self._check_input(x)
        path = _path(self, x)
        self.fast_path = "reference" if path is None else path.name
        if path is None:
            return compiled.outside_graph(super().forward, x, state)
        with compiled.cached_parametrizations():  # every fast path filters from zero itself
            return run_layers(self, x, self.zero_state(x, filter_state=False), path.layer)


_CLASSES: dict[type, type] = {}


def fast_class(cls: type) -> type:
    """The cached fast subclass of a reference cell class."""
    if cls not in _CLASSES:
        _CLASSES[cls] = type(cls.__name__, (FastCell, cls), {"__module__": cls.__module__,
                                                             "__doc__": cls.__doc__,
                                                             "__qualname__": cls.__qualname__,
                                                             "reference_class": cls})
    return _CLASSES[cls]


def _accelerated(rebuild: Callable, args: tuple) -> nn.Module:
    return accelerate(rebuild(*args))


def _restore(cls: type, attributes: dict) -> nn.Module:
    cell = cls.__new__(cls)
    cell.__dict__.update(attributes)
    return accelerate(cell)


def accelerate(cell: nn.Module) -> nn.Module:
    """Make a reference cell use the fast forward, in place; returns it."""
    if not isinstance(cell, Cell):
        raise TypeError(f"accelerate: expected a cells Cell, got {type(cell).__name__}")
    if not isinstance(cell, FastCell):
        dynamics = cell.dynamics  # the reference cell's attribute, before the fast class's property hides it
        cell.__class__ = fast_class(compiled.shared_class(type(cell)))
        compiled.prepare(cell, dynamics)
        cell.fast_constants = Constants()  # the fused-rnn path's input-independent tensors
    return cell
