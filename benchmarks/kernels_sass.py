"""Compile the recurrence kernels of one or more trees for an H200 (sm_90) on a machine without a GPU,
and print, per kernel, what the code costs: registers, stack, SASS instructions, and the
software-pipelined copies, waits and loops of its Triton GPU IR.

Triton lowers to TTIR, TTGIR, PTX and (with its bundled ptxas) a cubin without a device, so two
trees' kernels can be compared instruction for instruction before any GPU time is spent: a
refactor that should not change the generated code can be checked to not change it.

    python benchmarks/kernels_sass.py . .before          # .before: git archive 4a2022f | tar -x -C .before
    python benchmarks/kernels_sass.py . --dump /tmp/ir   # also write each kernel's ttir/ttgir/ptx/cubin

Each tree is compiled in its own process (each has its own `cells`), at B=128, T=784, the
launch options `cells.fast._triton` uses (4 warps tiled; 8 warps, 1 stage resident; 4 warps, 1
stage split). A stack above zero is registers spilled to local memory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile

B, T = 128, 784
TILED = {"BB": 16, "BN": 64, "BK": 64}
RESIDENT = {"BB": 16, "HP": 128}
# (module, kernel, H, blocks): the tiled kernels at the widths the benchmarks run, and the resident backwards
KERNELS = [
    ("triton_cornn", "_cornn_fwd_kernel", 256, TILED), ("triton_cornn", "_cornn_bwd_kernel", 256, TILED),
    ("triton_cornn", "_cornn_bwd_resident", 128, RESIDENT),
    ("triton_modrelu", "_modrelu_fwd_kernel", 256, TILED), ("triton_modrelu", "_modrelu_bwd_kernel", 256, TILED),
    ("triton_modrelu", "_modrelu_bwd_resident", 128, RESIDENT),
    ("triton_cmodrelu", "_cmodrelu_fwd_tiled", 128, TILED), ("triton_cmodrelu", "_cmodrelu_bwd_tiled", 128, TILED),
    ("triton_nag_lstm", "_nag_lstm_fwd", 256, TILED), ("triton_nag_lstm", "_nag_lstm_bwd", 256, TILED),
]


def _split(HP: int, S: int, BK: int | None = None) -> dict:
    """A split kernel's blocks: S programs per step, each owning HP / S columns; BK (kernels that
    take it) the weight rows read per product, HP meaning held in registers."""
    return {"BB": 16, "HP": HP, "HS": HP // S, "BK": BK or HP, "SYNC": True}


# The split kernels (one launch, the barrier on) of the complex modReLU, at the defaults and beside
# them: their weight slices held in registers or read from memory each step (BK < HP).
SPLIT_KERNELS = [("triton_cmodrelu", f"_cmodrelu_{d}_split", H, _split(H, S, BK))
                 for d in ("fwd", "bwd") for H, S, BK in ((128, 4, None), (128, 4, 32), (128, 4, 64), (128, 8, 64),
                                                           (256, 8, None), (256, 8, 32), (256, 8, 64), (256, 16, 64))]
SPLIT_KERNELS += [(module, f"_{name}_{d}_split", H, _split(H, S)) for module, name, sizes in (
    ("triton_modrelu", "modrelu", ((128, 4), (256, 8))), ("triton_nag_lstm", "nag_lstm", ((128, 8), (256, 8))))
    for d in ("fwd", "bwd") for H, S in sizes]
# the register-resident forwards beside the backwards above (orthogonal, ENRNN and coRNN at H = 128)
KERNELS += [("triton_modrelu", "_modrelu_fwd_resident", 128, RESIDENT), ("triton_cornn", "_cornn_fwd_resident", 128, RESIDENT)]
# the Adam / RMSProp filter: its one-pass scan over a stored g, and the one that makes g from the data
ADAM = {"BLOCK": 256, "UNROLL": 4, "I": 1, "HAS_DVR": False}
KERNELS += [("triton_adam", name, 128, ADAM) for name in ("_adam_fwd", "_adam_bwd", "_adam_x_fwd", "_adam_x_bwd")]
PRECISION = {"triton_cornn": "tf32", "triton_nag_lstm": "tf32"}  # the others: tf32x3 (_triton.precision)
SCALARS = {"dt", "gamma", "eps", "alpha", "mu", "s", "beta"}  # float arguments; the ints below are int32; the rest pointers
TTGIR_COUNTS = {"async copies": "ttg.async_copy_global_to_local", "async waits": "ttg.async_wait", "loops": "scf.for"}


def _signature(fn, H: int, constexprs: dict) -> tuple[dict, dict]:
    """Triton's signature and attributes as a launch at B=128, T=784 would specialise them:
    pointers and ints that are multiples of 16 get tt.divisibility = 16."""
    N = B * 4 * H  # the Adam filter's recurrences: an LSTM's gates
    ints = {"B": B, "T": T, "H": H, "t0": 0, "t1": T, "N": N, "F": 4 * H, "st": N, "sb": 4 * H, "sxb": T, "sxt": 1, "sxi": 1}
    signature, attrs = {}, {}
    for i, name in enumerate(fn.arg_names):
        if name in constexprs:
            signature[name] = "constexpr"
        elif name == "Count":  # a split kernel's barrier counters
            signature[name] = "*i32"
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in ints:
            signature[name] = "i32"
            if ints[name] % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in SCALARS:
            signature[name] = "fp32"
        else:
            signature[name] = "*fp32"
            attrs[(i,)] = [["tt.divisibility", 16]]
    return signature, attrs


def _cuobjdump(*args: str) -> str:
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def compile_tree(dump: str | None) -> dict:
    """{kernel@H: {measure: number}} for the `cells` on sys.path (run inside the tree's process)."""
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton's default, said out loud (it warns otherwise)
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for module, name, H, blocks in KERNELS + SPLIT_KERNELS:
            fn = getattr(importlib.import_module(f"cells.fast.{module}"), name, None)
            split = "HS" in blocks
            if fn is None or (split and "BK" not in fn.arg_names and blocks["BK"] != blocks["HP"]):
                continue  # not in this tree
            constexprs = {k: v for k, v in dict(blocks, PREC=PRECISION.get(module, "tf32x3")).items() if k in fn.arg_names}
            signature, attrs = _signature(fn, H, constexprs)
            if split:
                options = {"num_warps": 4, "num_stages": 1}  # _triton.launch_split
                name = f"{name}@S{blocks['HP'] // blocks['HS']}" + (f"k{blocks['BK']}" if blocks["BK"] < blocks["HP"] else "")
            else:
                options = {"num_warps": 8, "num_stages": 1} if "HP" in blocks else {"num_warps": 4}
            kernel = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=GPUTarget("cuda", 90, 32),
                                    options=options)
            cubin = os.path.join(dump or tmp, f"{name}_H{H}.cubin")
            os.makedirs(os.path.dirname(cubin), exist_ok=True)
            with open(cubin, "wb") as f:
                f.write(kernel.asm["cubin"])
            if dump:
                for ext in ("ttir", "ttgir", "ptx"):
                    with open(os.path.join(dump, f"{name}_H{H}.{ext}"), "w") as f:
                        f.write(kernel.asm[ext])
            usage = _cuobjdump("--dump-resource-usage", cubin)
            sass = _cuobjdump("-sass", cubin)
            row = {"registers": int(re.search(r"REG:(\d+)", usage)[1]), "stack": int(re.search(r"STACK:(\d+)", usage)[1]),
                   "SASS instructions": len(re.findall(r"^\s+/\*[0-9a-f]{4,}\*/", sass, flags=re.M))}
            row.update({label: kernel.asm["ttgir"].count(op) for label, op in TTGIR_COUNTS.items()})
            out[f"{name}@H{H}"] = row
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", help="folders that each hold a `cells` package (default: .)")
    parser.add_argument("--dump", help="also write every kernel's IR and cubin under DUMP/<tree name>/")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one tree, in its own process: print its numbers as JSON
        print(json.dumps(compile_tree(args.dump)))
        return 0
    trees = args.trees or ["."]
    results = {}
    for tree in trees:
        if not os.path.isdir(os.path.join(tree, "cells", "fast")):
            print(f"kernels_sass: {tree!r} holds no cells/fast; give folders with the project's tree "
                  f"(e.g. git archive 4a2022f | tar -x -C .before)", file=sys.stderr)
            return 2
        dump = os.path.join(args.dump, os.path.basename(os.path.abspath(tree))) if args.dump else None
        # the tree's `cells` first; the rest of PYTHONPATH stays (e.g. another Triton to compile with)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.abspath(tree), os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, os.path.abspath(__file__), "--child"] + (["--dump", dump] if dump else [])
        done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
        if done.returncode:
            print(f"kernels_sass: compiling the kernels of {tree} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        results[tree] = json.loads(done.stdout.strip().splitlines()[-1])
    measures = ["registers", "stack", "SASS instructions", *TTGIR_COUNTS]
    print(f"Each cell: {' / '.join(trees)}\n")
    print("| kernel | " + " | ".join(measures) + " |")
    print("|" + "---|" * (len(measures) + 1))
    keys = list(dict.fromkeys(k for t in trees for k in results[t]))  # every tree's kernels, in order
    for key in keys:
        cells = [" / ".join(str(results[t].get(key, {}).get(m, "-")) for t in trees) for m in measures]
        print(f"| {key} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
