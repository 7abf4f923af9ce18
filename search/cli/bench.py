"""`momnas bench`: ms per training iteration of every cell family, reference against auto, beside cuDNN LSTM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from search._paths import file_in_the_way
from search.cli._common import console, user_errors
from search.errors import BadInput, bad_input


def bench_command(
    families: Annotated[Optional[list[str]], typer.Option(
        "--family", "-f", help="dynamics-core[:key=value,...], e.g. momentum-lstm or "
                               "nag_restart-lstm:nag_form=paper; repeat for several", show_default="all")] = None,
    hidden: Annotated[Optional[list[int]], typer.Option("--hidden", "-H", help="hidden sizes", show_default="128 256")] = None,
    batch: Annotated[int, typer.Option(help="batch size B")] = 128,
    steps: Annotated[int, typer.Option(help="sequence length T")] = 784,
    input_size: Annotated[int, typer.Option(help="input features per step")] = 1,
    iters: Annotated[int, typer.Option(help="timed iterations after warm-up (median reported)")] = 10,
    warmup: Annotated[int, typer.Option(help="untimed warm-up iterations")] = 3,
    ref_iters: Annotated[int, typer.Option(help="timed iterations for the slow reference")] = 2,
    no_reference: Annotated[bool, typer.Option("--no-reference", help="skip timing the reference")] = False,
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu", show_default="cuda if available")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write the table as JSON here")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing --out file")] = False,
):
    """Time one training iteration (forward, backward, RMSprop step) of every family."""
    from cells.benchmark import check_inputs, format_table, run_benchmark

    with user_errors():
        if out is not None:  # checked before minutes of timing, not after
            _check_out(out, overwrite)
        with bad_input():  # the families, sizes and device the user gave
            check_inputs(families, hidden_sizes=hidden or (128, 256), batch=batch, steps=steps, input_size=input_size,
                         iters=iters, warmup=warmup, ref_iters=ref_iters, ref_warmup=1, device=device)
        result = run_benchmark(families, hidden_sizes=hidden or (128, 256), batch=batch, steps=steps,
                               input_size=input_size, iters=iters, warmup=warmup, ref_iters=ref_iters,
                               reference=not no_reference, device=device,
                               log=lambda m: console.print(m, highlight=False))
        console.print(format_table(result), highlight=False, soft_wrap=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            console.print(f"wrote {out}")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise BadInput(f"--out {out} is a folder; name the JSON file, e.g. --out {out / 'bench.json'}")
    if out.exists() and not overwrite:
        raise BadInput(f"--out {out} already exists: add --overwrite to replace it, or give another --out")
    blocker = file_in_the_way(out)
    if blocker is not None:
        raise BadInput(f"--out {out}: {blocker} is a file, so the folder cannot be made; give another --out")
