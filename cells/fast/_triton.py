"""Triton, imported only when a fused kernel is about to run (CUDA, or TRITON_INTERPRET=1).

The shared pieces of the recurrence kernels: the launchers and the `@triton.jit` helpers for
indices, tiles, the tiled matrix-vector product and the per-step barrier of the split
kernels (one batch tile's step shared by several programs, each holding a slice of the
weights on chip: a step of one program waits on one SM's whole update). Written so that the kernels compile to
the code of the hand-written kernels they replaced (sm_90 SASS compared by
benchmarks/kernels_sass.py): one K loop per output tile, whatever the
number of products in it (`tiled_dot_pair`: each extra loop is one more pipelined prologue
and drain per step); a row's pointer added before its columns (`row_ptrs`); reverse time as
`for i in range(T): t = T - 1 - i` (a negative-step `range` adds instructions to the loop).
"""

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


# Tuning knobs the GPU benchmark scripts vary; None means the rule below.
OVERRIDES: dict = {"precision": None, "num_warps": None, "tile": None, "split": None, "stream_k": None}


def precision(dissipative: bool = False) -> str:
    """tl.dot precision for float32 operands of a recurrence kernel.

    The kernels follow the precision class of the cuDNN paths that `auto` uses beside them
    (PyTorch lets cuDNN use tf32 unless torch.backends.cudnn.allow_tf32 is False), where
    that is safe. Measured on an H200 at T=784 (docs/benchmarks.md), error against a
    float64 loop: coRNN (damped, `dissipative`) with tf32 dots 1.5e-4 (outputs) and
    2.4e-4 (gradients), the class of cuDNN's own tf32 RNNs; the paper-form NAG LSTM with
    tf32 dots 4.4e-6 / 1.7e-4 against the float32 reference; the norm-preserving modReLU
    cores with tf32 1.9e-1, so they use "tf32x3" (three tf32 products: float32-class
    error, 2x slower than tf32, 10-30x faster than full-fp32 FMA dots)."""
    if OVERRIDES["precision"]:
        return OVERRIDES["precision"]
    if torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    if dissipative and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "tf32x3"


RESIDENT_MAX = 128  # state widths up to this keep the state in registers (one tile)


BB = 16  # batch rows per program of a recurrence kernel: the smallest tile tl.dot accepts


def padded(H: int) -> int:
    """The state width a kernel's tiles cover: the next power of two, at least 16 (tl.dot's minimum)."""
    return max(16, triton.next_power_of_2(H))


def tile_blocks(H: int) -> dict:
    """{"BN", "BK"} of the tiled kernels for a state of width H: one tile of up to 64 (or the
    benchmark's override, OVERRIDES["tile"]) along the output and the reduction dimension."""
    tile = min(padded(H), OVERRIDES["tile"] or 64)
    return {"BN": tile, "BK": tile}


def launch_options(resident: bool, warps: int | None = None) -> dict:
    """num_warps / num_stages: register-resident kernels want 8 warps and no software
    pipelining of the weight loads (two stages of two 128 x 128 fp32 weights overflow the
    228 KB of shared memory); the tiled ones did best with 4 warps unless a kernel says
    otherwise (`warps`)."""
    opts = {"num_warps": 8, "num_stages": 1} if resident else {"num_warps": warps or 4}
    if OVERRIDES["num_warps"]:
        opts["num_warps"] = OVERRIDES["num_warps"]
    return opts


def launch(resident, tiled, B: int, H: int, *args, resident_max: int = RESIDENT_MAX, prec: str,
           tiled_warps: int | None = None) -> None:
    """Run a recurrence kernel over B batch rows, BB per program: `resident` (the state in
    registers, block HP = `padded(H)`) when HP <= resident_max, else `tiled` (the state read
    back in BN x BK tiles, `tile_blocks`, with `tiled_warps` warps, default 4); either may be
    None where a kernel has one form."""
    HP = padded(H)
    grid = (triton.cdiv(B, BB),)
    if resident is not None and (tiled is None or HP <= resident_max):
        resident[grid](*args, BB=BB, HP=HP, PREC=prec, **launch_options(True))
    else:
        tiled[grid](*args, BB=BB, PREC=prec, **tile_blocks(H), **launch_options(False, tiled_warps))


def split_ways(B: int, H: int, device: torch.device, ways: dict[int, int]) -> int:
    """How many programs share each time step of one batch tile in a split kernel (1: the
    one-program kernels): OVERRIDES["split"], else the kernel's measured table `ways`
    (padded(H) -> programs) on a GPU. A slice is at least tl.dot's 16 columns. Siblings wait
    for each other every step, so on a GPU the whole grid must fit on its SMs at once (blocks
    are dispatched in order, so kernels beside it, packed trials' too, only delay it);
    where it would not, 1."""
    forced = OVERRIDES["split"]
    if forced is None and device.type != "cuda":
        return 1
    S = max(1, min(forced or ways.get(padded(H), 1), padded(H) // 16))
    if device.type == "cuda" and triton.cdiv(B, BB) * S > torch.cuda.get_device_properties(device).multi_processor_count:
        return 1
    return S


def stream_rows(H: int, table: dict[int, int]) -> int:
    """BK of a split kernel that can read its weight slice from memory each step instead of
    holding it in registers: OVERRIDES["stream_k"], else the kernel's table (padded(H) ->
    rows per product); padded(H) (the default) means resident."""
    HP = padded(H)
    return max(16, min(OVERRIDES["stream_k"] or table.get(HP, HP), HP))


def launch_split(kernel, S: int, B: int, H: int, T: int, *args, prec: str, tail: bool = False,
                 block_k: int | None = None) -> torch.Tensor:
    """Run a split kernel: S programs per batch tile, each owning HS = padded(H) / S state
    columns, the grid (S, batch tiles) so that siblings are dispatched together. On a GPU one
    launch runs the T steps and siblings meet at `step_barrier` after each; the interpreter
    runs programs one after another, so there a launch per step (t0, t0 + 1) stands for the
    barrier, and `tail` adds the launch (T, T) that runs only the kernel's after-loop part.
    `block_k` is passed as BK to kernels that take it (`stream_rows`).
    Returns each batch tile's barrier count (S * T on a GPU: every sibling arrived every step)."""
    HP = padded(H)
    nb = triton.cdiv(B, BB)
    count = torch.zeros(nb, dtype=torch.int32, device=args[0].device)
    meta = dict(BB=BB, HP=HP, HS=HP // S, PREC=prec, num_stages=1,  # no loads pipelined across a barrier
                num_warps=OVERRIDES["num_warps"] or 4)
    if block_k is not None:
        meta["BK"] = block_k
    if args[0].device.type == "cuda" or S == 1:
        kernel[(S, nb)](*args, count, 0, T, SYNC=True, **meta)
    else:
        for t0 in range(T + tail):
            kernel[(S, nb)](*args, count, t0, min(t0 + 1, T), SYNC=False, **meta)
    return count


if triton is not None:
    from triton.language.extra import libdevice

    @triton.jit
    def step_barrier(Count, arrivals):
        """Wait until `arrivals` programs have arrived at Count (an int32 in global memory that
        only grows): each sibling calls it once per step after its stores, so that after it
        every sibling's stores of that step are visible (release / acquire at GPU scope; a
        scalar atomic is one thread's, its result broadcast to the program)."""
        tl.debug_barrier()  # every thread's stores of this step are issued
        seen = tl.atomic_add(Count, 1, sem="release", scope="gpu") + 1
        while seen < arrivals:
            seen = tl.atomic_add(Count, 0, sem="acquire", scope="gpu")
        tl.debug_barrier()

    @triton.jit
    def step_mask(m, cols, t, end):
        """m (rows x cols) where step t < end, all off past it: the scalar test broadcast over the
        columns (the interpreter refuses a scalar bool in a mask)."""
        return m & (cols * 0 + t < end)[None, :]

    @triton.jit
    def split_block(B, H, BB: tl.constexpr, HP: tl.constexpr, HS: tl.constexpr):
        """A split kernel's indices: this program's batch rows rb (axis 1) and mask mb; all
        HP columns rk of the state it reads and their mask mk; the HS columns rn it owns
        (axis 0) and their mask mn; the (rows x own columns) and (rows x all columns) masks."""
        rb = tl.program_id(1) * BB + tl.arange(0, BB)
        mb = rb < B
        rk = tl.arange(0, HP)
        mk = rk < H
        rn = tl.program_id(0) * HS + tl.arange(0, HS)
        mn = rn < H
        return rb, mb, rk, mk, rn, mn, mb[:, None] & mn[None, :], mb[:, None] & mk[None, :]

    @triton.jit
    def batch_rows(B, BB: tl.constexpr):
        """This program's BB batch rows and their mask (rows past B are off)."""
        rb = tl.program_id(0) * BB + tl.arange(0, BB)
        return rb, rb < B

    @triton.jit
    def columns(n0, N, BN: tl.constexpr, mb):
        """The BN columns from n0 of a width-N state, their mask, and the (rows x columns) mask."""
        rn = n0 + tl.arange(0, BN)
        mn = rn < N
        return rn, mn, mb[:, None] & mn[None, :]

    @triton.jit
    def resident_block(B, H, BB: tl.constexpr, HP: tl.constexpr):
        """A register-resident kernel's indices: rows rb and their mask mb, the columns rn of
        the width-H state padded to HP and their mask mn, the (rows x columns) mask m2 and the
        (H x H) weight mask mw."""
        rb, mb = batch_rows(B, BB)
        rn, mn, m2 = columns(0, H, HP, mb)
        return rb, mb, rn, mn, m2, mn[:, None] & mn[None, :]

    @triton.jit
    def rows(rb, t, T, W, cols):
        """Offsets of the entries (row rb, step t, column cols) of a (B, T, W) buffer, (BB, len(cols)):
        for one offset shared by several buffers or columns (P + o, P + o + H)."""
        return (rb[:, None] * T + t) * W + cols[None, :]

    @triton.jit
    def row_ptrs(X, rb, t, T, W, cols):
        """Pointers to the entries (row rb, step t, column cols) of X (B, T, W), (BB, len(cols)):
        the row's pointer (BB x 1) first, then the columns; `X + rows(...)` costs one more
        (BB x len(cols)) add wherever its offsets are not shared."""
        return X + (rb[:, None] * T + t) * W + cols[None, :]

    @triton.jit
    def carried(Back, dOut, rb, rn, m2, t, T, W):
        """dL/d(state_t) at columns rn: what later steps carried back (Back, (B, W)) plus the
        loss's own gradient at step t (dOut, (B, T+1, W), row t + 1)."""
        # Back + (offsets): the same offsets as the caller's store of the next Back, so the two share them
        return (tl.load(Back + (rb[:, None] * W + rn[None, :]), mask=m2, other=0.0) +
                tl.load(dOut + rows(rb, t + 1, T + 1, W, rn), mask=m2, other=0.0))

    @triton.jit
    def x_tile(X, rb, mb, t, T, K, k0, BK: tl.constexpr):
        """The (BB x BK) tile x_t[:, k0:k0+BK] of X (B, T, K) at step t, rows rb (zero past K)."""
        rk = k0 + tl.arange(0, BK)
        return tl.load(row_ptrs(X, rb, t, T, K, rk), mask=mb[:, None] & (rk < K)[None, :], other=0.0)

    @triton.jit
    def w_tile(Wm, k0, K, rn, mn, ld, TRANS: tl.constexpr, BK: tl.constexpr):
        """The (BK x BN) tile Wm[k0:k0+BK, rn] of a row-major matrix with leading dimension ld
        (of its transpose, Wm^T[k, n] = Wm[n, k], when TRANS); zero past K."""
        rk = k0 + tl.arange(0, BK)
        mkn = (rk < K)[:, None] & mn[None, :]
        if TRANS:
            return tl.load(Wm + rn[None, :] * ld + rk[:, None], mask=mkn, other=0.0)
        else:
            return tl.load(Wm + rk[:, None] * ld + rn[None, :], mask=mkn, other=0.0)

    @triton.jit
    def tiled_dot(acc, X, rb, mb, t, T, K, Wm, rn, mn, ld, TRANS: tl.constexpr, BK: tl.constexpr,
                  PREC: tl.constexpr):
        """acc + x_t @ Wm[:, rn] over K in BK tiles: x_t the step-t rows rb of X (B, T, K); Wm
        row-major with leading dimension ld, read as its transpose when TRANS (Wm^T[k, n])."""
        for k0 in range(0, K, BK):
            acc += tl.dot(x_tile(X, rb, mb, t, T, K, k0, BK), w_tile(Wm, k0, K, rn, mn, ld, TRANS, BK),
                          input_precision=PREC)
        return acc

    @triton.jit
    def tiled_dot_pair(acc, acc2, X, rb, mb, t, T, K, Wm, rn, Wm2, rn2, mn, ld, TRANS: tl.constexpr,
                       BK: tl.constexpr, PREC: tl.constexpr):
        """(acc + x_t @ Wm[:, rn], acc2 + x_t @ Wm2[:, rn2]), as `tiled_dot`, in one pass over K:
        each x tile is loaded once and the K loop is pipelined once (two `tiled_dot` calls
        instead: a second pipelined loop and every x tile loaded twice, a measured slowdown
        (docs/benchmarks.md). mn masks both column sets. Two halves of one matrix are
        (Wm, rn) and (Wm, rn + shift), not (Wm + shift, rn): a second base pointer live across
        the loop spills the complex forward's registers."""
        for k0 in range(0, K, BK):
            xk = x_tile(X, rb, mb, t, T, K, k0, BK)
            w = w_tile(Wm, k0, K, rn, mn, ld, TRANS, BK)
            w2 = w_tile(Wm2, k0, K, rn2, mn, ld, TRANS, BK)
            acc += tl.dot(xk, w, input_precision=PREC)
            acc2 += tl.dot(xk, w2, input_precision=PREC)
        return acc, acc2

    @triton.jit
    def tiled_product(Out, X, Wm, rb, mb, t, T, K, N, ld, TRANS: tl.constexpr, BB: tl.constexpr,
                      BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr):
        """Out (B, N) = x_t @ Wm (x_t @ Wm^T when TRANS) in (BB x BN) tiles, `tiled_dot` each:
        how a tiled backward carries dL/dh_{t-1} = G_t @ (recurrent matrix) back one step."""
        for n0 in range(0, N, BN):
            rn, mn, m2 = columns(n0, N, BN, mb)
            acc = tiled_dot(tl.zeros((BB, BN), dtype=tl.float32), X, rb, mb, t, T, K, Wm, rn, mn, ld, TRANS, BK, PREC)
            tl.store(Out + rb[:, None] * N + rn[None, :], acc, mask=m2)

    @triton.jit
    def tanh_portable(x):
        # exp(-2|x|) never overflows. Below |x| = 0.1, 1 - exp(-2|x|) cancels (relative error
        # 1e-2 at 1e-6, 1 at 1e-9), so the Taylor series x - x^3/3 + 2x^5/15 takes over
        # (error < 6e-8 there); float32 error <= 2.3e-7 overall.
        e = tl.exp(-2.0 * tl.abs(x))
        r = (1.0 - e) / (1.0 + e)
        x2 = x * x
        series = x * (1.0 - x2 * (0.3333333333333333 - x2 * 0.13333333333333333))
        return tl.where(tl.abs(x) < 0.1, series, tl.where(x >= 0, r, -r))

    @triton.jit
    def tanh_libdevice(x):
        return libdevice.tanh(x)  # CUDA's tanhf: 2 ulp everywhere, small |x| included


def kernel_tanh():
    """The tanh a kernel module binds when it is imported, which is when `triton.jit` also
    decides whether its kernels run compiled or interpreted: libdevice's on the GPU; under
    TRITON_INTERPRET=1, which has no libdevice, the portable one (exp-based with a Taylor
    branch for small |x|, which costs the paper-form NAG LSTM 13% on an H200)."""
    return tanh_portable if os.environ.get("TRITON_INTERPRET") == "1" else tanh_libdevice
