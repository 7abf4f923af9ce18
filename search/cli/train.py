"""`momnas train`: train one cell on one task, from a run file and/or flags, and write its results.

    momnas train RUN.json [--out DIR]
    momnas train --core lstm --dynamics momentum --mu 0.6 --s 0.6 --task psmnist --epochs 2

Flags override the file's values; a run file's recorded threads are applied, and one line says
when this machine cannot reproduce its recorded numbers exactly. A run too large for the device's
memory is refused before anything is made. Writes run.json, metrics.json, curves.json, curves.html
and (unless the run diverged) checkpoint.pt under --out. The work is `runs.train`; this module
parses, calls it once, and draws the learning curves (plotly lives in `search`, not `runs`).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from search._paths import file_in_the_way
from search.cli._common import console, err_console, user_errors
from search.errors import BadInput, bad_input

_CELL = "Cell"
_TASK = "Task"
_TRAIN = "Training"


def _pairs(items: list[str] | None, flag: str) -> dict[str, Any]:
    """KEY=VALUE strings -> dict, values read as YAML scalars (0.6 -> float, 2 -> int, paper -> str)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} restart=40")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _set(**values: Any) -> dict[str, Any]:
    """The flags that were given (None means: keep the file's value)."""
    return {k: v for k, v in values.items() if v is not None}


def train_command(
    run_file: Annotated[Optional[Path], typer.Argument(
        help="run file (JSON or YAML: cell, task, train), or a best.json from `momnas export`", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="output folder", show_default="momnas-runs/<family>-<task>-<time>")] = None,
    # cell
    core: Annotated[Optional[str], typer.Option(help="cell core: rnn, lstm, gru, orthogonal, ... (`momnas cells`)", rich_help_panel=_CELL)] = None,
    dynamics: Annotated[Optional[str], typer.Option(help="plain, momentum, adam, rmsprop, nag_restart", rich_help_panel=_CELL)] = None,
    hidden_size: Annotated[Optional[int], typer.Option("--hidden-size", "--hidden", "-H", help="hidden units", rich_help_panel=_CELL)] = None,
    mu: Annotated[Optional[float], typer.Option(help="momentum μ", rich_help_panel=_CELL)] = None,
    s: Annotated[Optional[float], typer.Option("--s", help="step size s", rich_help_panel=_CELL)] = None,
    beta: Annotated[Optional[float], typer.Option(help="adam / rmsprop β", rich_help_panel=_CELL)] = None,
    cell_params: Annotated[Optional[list[str]], typer.Option(
        "--cell", "-c", help="any other cell parameter as KEY=VALUE (repeat), e.g. -c restart=40 -c nag_form=paper",
        rich_help_panel=_CELL)] = None,
    # task
    task: Annotated[Optional[str], typer.Option(help="adding, copying, digits, pdigits, mnist1d, smnist, psmnist or npz:PATH", rich_help_panel=_TASK)] = None,
    T: Annotated[Optional[int], typer.Option("--T", "-T", help="sequence length of copying / adding", rich_help_panel=_TASK)] = None,
    n_train: Annotated[Optional[int], typer.Option(help="use at most this many training examples", rich_help_panel=_TASK)] = None,
    n_val: Annotated[Optional[int], typer.Option(help="validation examples, carved from training data", rich_help_panel=_TASK)] = None,
    n_test: Annotated[Optional[int], typer.Option(help="use at most this many test examples", rich_help_panel=_TASK)] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="folder with the MNIST IDX files (else $MOMNAS_DATA)", rich_help_panel=_TASK)] = None,
    data_seed: Annotated[Optional[int], typer.Option(help="seed of the data: generated sequences and splits", rich_help_panel=_TASK)] = None,
    # training
    optimizer: Annotated[Optional[str], typer.Option(help="adam, rmsprop or sgd", rich_help_panel=_TRAIN)] = None,
    lr: Annotated[Optional[float], typer.Option(help="learning rate", rich_help_panel=_TRAIN)] = None,
    orthogonal_lr: Annotated[Optional[float], typer.Option(help="learning rate of the orthogonal parameters", show_default="--lr", rich_help_panel=_TRAIN)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", help="batch size", rich_help_panel=_TRAIN)] = None,
    eval_batch_size: Annotated[Optional[int], typer.Option(
        help="sequences per validation / test pass", show_default="4 batches", rich_help_panel=_TRAIN)] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", "-e", help="epochs", rich_help_panel=_TRAIN)] = None,
    steps: Annotated[Optional[int], typer.Option(help="optimizer steps in all (replaces --epochs)", rich_help_panel=_TRAIN)] = None,
    clip: Annotated[Optional[float], typer.Option(help="clip the gradient's global norm to this", rich_help_panel=_TRAIN)] = None,
    schedule: Annotated[Optional[str], typer.Option(help="constant, cosine or step (lr/10 at --decay-at)", rich_help_panel=_TRAIN)] = None,
    decay_at: Annotated[Optional[float], typer.Option(help="fraction of training after which `step` divides lr by 10", rich_help_panel=_TRAIN)] = None,
    eval_every: Annotated[Optional[int], typer.Option(help="evaluate every N steps", show_default="every epoch", rich_help_panel=_TRAIN)] = None,
    seed: Annotated[Optional[int], typer.Option(help="seed of the initialisation and batch order", rich_help_panel=_TRAIN)] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N", rich_help_panel=_TRAIN)] = None,
    impl: Annotated[Optional[str], typer.Option(help="cell implementation: auto or reference", rich_help_panel=_TRAIN)] = None,
    compile: Annotated[Optional[str], typer.Option(
        "--compile", help="torch.compile the training steps: off, on, or auto (on the GPU, for the families and run lengths where it pays)",
        show_default="auto", rich_help_panel=_TRAIN)] = None,
    graph: Annotated[Optional[str], typer.Option(
        "--graph", help="replay forward and backward as CUDA graphs: off, on, or auto (on the GPU, for the families where it pays)",
        show_default="off", rich_help_panel=_TRAIN)] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="torch CPU threads for the run", show_default="what the run file recorded, else torch's",
        rich_help_panel=_TRAIN)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace the run already in --out (else it is refused)")] = False,
):
    """Train one cell configuration on one task; write metrics.json, curves and checkpoint.pt."""
    import runs

    with user_errors():
        if run_file is None and core is None and task is None:
            raise BadInput("nothing to train: give a run file (momnas train RUN.json) or flags "
                             "(momnas train --core lstm --task adding)")
        with bad_input():  # runs checks the run file, the flags and the data: the user's input
            base = runs.read_run_file(run_file) if run_file is not None else None
            recorded = runs.recorded_environment(run_file, base) if run_file is not None else None
            config = runs.build_run_config(
                base,
                cell=_merge(_set(core=core, dynamics=dynamics, hidden_size=hidden_size, mu=mu, s=s, beta=beta),
                            _pairs(cell_params, "--cell")),
                task=_set(name=task, T=T, n_train=n_train, n_val=n_val, n_test=n_test, data_dir=data_dir, seed=data_seed),
                train=_set(optimizer=optimizer, lr=lr, orthogonal_lr=orthogonal_lr, batch_size=batch_size,
                           eval_batch_size=eval_batch_size, epochs=epochs, steps=steps, clip=clip, schedule=schedule,
                           decay_at=decay_at, eval_every=eval_every, seed=seed, device=device, impl=impl,
                           compile=compile, graph=graph, threads=threads),
                environment=recorded,
            )
        out = out if out is not None else _default_out(config)
        _check_out(out, overwrite)
        with bad_input():
            runs.check_fits_memory(config)  # sizes that cannot fit, from the config alone: before any data is made
            loaded = runs.load_task(config.task)  # bad data fails here, before anything is written
        note = runs.replay_note(recorded, config)
        if note:
            err_console.print(note, highlight=False, soft_wrap=True)
        console.print(f"[bold]{config.cell.family}[/] on [bold]{loaded.name}[/]: {len(loaded.train)} train, "
                      f"{len(loaded.val)} validation, {len(loaded.test)} test sequences of length {loaded.length}",
                      highlight=False)
        created = _make_out(out)
        try:
            result = runs.train(config, out_dir=out, progress=not quiet, task=loaded)
        except BaseException:
            _remove_if_empty(created)  # a run that ends in an error leaves no empty folder behind
            raise
    _write_html(result, out)
    _summary(result, out)
    if result.status == "diverged":
        err_console.print("the loss turned NaN/inf: try a smaller --lr or --clip 1.0", highlight=False)
        raise typer.Exit(1)


def _merge(flags: dict[str, Any], pairs: dict[str, Any]) -> dict[str, Any]:
    """The cell flags and the --cell KEY=VALUE pairs; one key given both ways is refused."""
    both = sorted(set(flags) & set(pairs))
    if both:
        key = both[0]
        raise BadInput(f"{key} is given twice (--{key.replace('_', '-')} {flags[key]} and --cell {key}={pairs[key]}); "
                         f"give it once")
    return {**flags, **pairs}


# What `momnas train` writes into --out: a folder holding any of these holds a run.
RUN_OUTPUTS = ("run.json", "metrics.json", "curves.json", "curves.html", "checkpoint.pt")


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an --out that is a file, or that holds a run (unless --overwrite), before training."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file; name a folder")
    if out.is_dir():
        found = [name for name in RUN_OUTPUTS if (out / name).exists()]
        if found and not overwrite:
            raise BadInput(f"--out {out} already holds a run ({', '.join(found)}); give another --out, "
                                  f"or add --overwrite to replace it")
        return
    blocker = file_in_the_way(out)
    if blocker is not None:
        raise BadInput(f"--out {out}: {blocker} is a file, so the folder cannot be made; name another --out")


def _make_out(out: Path) -> Path | None:
    """Create --out (and missing parents) now, so an unwritable place fails before training;
    returns the topmost folder this created (None if --out existed)."""
    top = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        top = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out {out}: cannot create the folder ({exc.strerror or exc}); name another --out") from None
    return top


def _remove_if_empty(top: Path | None) -> None:
    if top is None:
        return
    for folder in sorted((p for p in [top, *top.rglob("*")] if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass


def _default_out(config) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = config.task.name.partition(":")[0]
    base = Path("momnas-runs") / f"{config.cell.family}-{name}-{stamp}"
    out, n = base, 1
    while out.exists():  # two runs started in the same second each get a folder of their own
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def _summary(result, out: Path) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    fmt = lambda v: "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
    table.add_row("status", result.status)
    for split, values in (("validation", result.validation), ("test", result.test)):
        if values is not None:
            table.add_row(split, ", ".join(f"{k} {fmt(v)}" for k, v in values.items()))
    table.add_row("baseline", f"{result.metric} {fmt(result.baseline)}")
    table.add_row("stability", ", ".join(f"{k} {fmt(v)}" for k, v in result.stability.items()))
    table.add_row("trained", f"{_count(result.epochs, 'epoch')}, {_count(result.steps, 'step')}, {result.seconds:.1f} s")
    table.add_row("wrote", ", ".join(sorted(p.name for p in out.iterdir() if not p.name.startswith("."))) + f" in {out}")
    console.print(table)


def _write_html(result, out: Path) -> None:
    path = out / "curves.html"
    tmp = out / f".curves.html.tmp-{os.getpid()}"
    from search.plots import plot_run_curves  # plotly only once a run has finished

    plot_run_curves(result.curves, result.metric).write_html(tmp, include_plotlyjs="directory")
    os.replace(tmp, path)


def _count(n: int, noun: str) -> str:
    """"1 epoch", "2 epochs"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
