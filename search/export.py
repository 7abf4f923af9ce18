"""Export one trial of a study as a cell file: `best.json` (docs/architecture.md), its weights, a program.

`pick_trial(study, "auto" | "confirmed" | "knee" | "best:OBJECTIVE" | "trial:N")` chooses among the
eligible trials (COMPLETE, status completed, finite values: never a failed, diverged or
early-stopped one), preferring a confirmation's result (search.confirm) where the study has one;
`export_trial(study, to, ...)` writes the chosen cell and its training configuration, where it came from,
its metrics, and its trained weights when the trial kept a checkpoint. `cells.load(best.json)`
rebuilds the cell, `momnas train best.json` retrains it, and with `fmt="torch-export"` a
`torch.export` program of the trained model runs without momnas.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from search._paths import file_in_the_way
from search import _record
from search._knee import knee_distances, knee_order
from search._record import StudyRecord, TrialRecord
from search._study import public_url
from search.confirm import stored as stored_confirmation
from search.errors import BadInput

__all__ = ["FORMATS", "Exported", "export_trial", "pick_trial"]

FORMATS = ("json", "torch-export")
CHECKPOINT_NAME = "checkpoint.pt"  # the artifact name runs.write_outputs gives a trained model

_STATE_WHY = {
    TrialState.FAIL: "failed",
    TrialState.PRUNED: "was stopped early",
    TrialState.RUNNING: "is still running",
    TrialState.WAITING: "has not run yet",
}


class Exported(NamedTuple):
    """What `export_trial` wrote."""

    trial: int
    pick: str
    path: Path  # best.json
    weights: Path | None  # the trained checkpoint beside it (None: the trial kept none)
    program: Path | None  # the torch.export program (fmt="torch-export")
    max_abs_diff: float | None  # program against the model on real validation inputs
    why: str = ""  # the rule that picked the trial (for --pick knee)


# -------------------------------------------------------------------------------- choosing


def _why_not(record: TrialRecord) -> str | None:
    """Why a trial cannot be exported, or None when it can."""
    trial, status = record.trial, record.status
    if trial.state != TrialState.COMPLETE:
        why = _STATE_WHY.get(trial.state, trial.state.name.lower())
        return f"{why} ({status})" if status and status not in why and status != trial.state.name.lower() else why
    if status not in ("complete", "completed"):
        return f"ended {status}"
    if ((record.metrics or {}).get("stability") or {}).get("diverged"):
        return "diverged"
    if trial.values is None or not all(math.isfinite(v) for v in trial.values):
        return "has no finite objective values"
    if record.files_elsewhere:
        return "keeps its run config in the study's artifacts folder, which is not on this machine (give --out the search's folder)"
    if not record.cell:
        return "records no run_config (not a momnas search trial)"
    return None


def _eligible(study: optuna.Study) -> list[FrozenTrial]:
    records = _record.trials(study)
    trials = [r.trial for r in records if _why_not(r) is None]
    if trials:
        return trials
    counts: dict[str, int] = {}
    for r in records:
        why = _why_not(r) or "eligible"
        counts[why] = counts.get(why, 0) + 1
    summary = ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) or "no trials at all"
    raise BadInput(
        f"study {study.study_name!r} has no completed trial to export ({summary}): "
        "let the search finish some trials (`momnas search --resume` with the same --out and --study continues it)"
    )


def _signs(study: optuna.Study) -> list[float]:
    """Multiply by these and every objective is minimised."""
    return [-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions]


def _pareto(study: optuna.Study, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The eligible trials on the study's Pareto front (Optuna's `best_trials`)."""
    eligible = {t.number for t in trials}
    # A study not written by momnas can have a front of ineligible trials only: weigh every eligible one then.
    return [t for t in study.best_trials if t.number in eligible] or trials


def knee(study: optuna.Study, trials: list[FrozenTrial], signs: list[float]) -> tuple[FrozenTrial, str]:
    """The Pareto trial nearest the ideal point, each objective scaled to [0, 1] over the Pareto
    set, and the rule that picked it.

    Points at the same distance go to the better primary objective (the validation metric),
    then the earlier trial: with two Pareto points both lie at distance 1, and the knee is then
    the more accurate one, never a much worse one for a small gain in stability.
    """
    front = sorted(_pareto(study, trials), key=lambda t: t.number)
    losses = [[s * v for s, v in zip(signs, t.values)] for t in front]
    distance = knee_distances(losses)
    order = knee_order(losses)
    chosen = front[order[0]]
    if len(front) == 1:
        return chosen, "the only Pareto trial"
    if distance[order[0]] == distance[order[1]]:
        tied = sum(1 for d in distance if d == distance[order[0]])
        return chosen, f"{tied} of {len(front)} Pareto trials tie at distance {distance[order[0]]:.3g} from the ideal point: the best on the primary objective"
    return chosen, f"nearest the ideal point of {len(front)} Pareto trials"


def _objective_index(study: optuna.Study, name: str) -> int:
    names = StudyRecord.of(study).metric_names
    for i, metric in enumerate(names):
        if name in (metric, metric.removeprefix("val_"), str(i)):
            return i
    raise BadInput(f"unknown objective {name!r} in --pick best:{name}; this study has {', '.join(names)}")


def pick_trial(study: optuna.Study, pick: str = "auto") -> FrozenTrial:
    """The trial `pick` names among the study's eligible ones.

    Example:
        >>> from search import open_study
        >>> trial = pick_trial(open_study("momnas-runs"), "best:val_accuracy")
        >>> trial.state.name
        'COMPLETE'

    Args:
        study: A study written by `momnas search`.
        pick: `auto` (`confirmed` where the study has a confirmation, else `knee`), `confirmed`
            (the confirmed cell with the best mean validation metric over its fresh seeds),
            `knee` (the Pareto trial nearest the ideal point, objectives normalised over
            the Pareto set), `best:OBJECTIVE` (`best:val_acc`, `best:acc`, `best:instability`;
            ties go to the better other objective, then the earlier trial) or `trial:N`.

    Raises:
        ValueError: An unknown pick, a trial that cannot be exported (the message says why),
            or a study without any eligible trial.
    """
    return _pick(study, pick)[0]


def resolve_pick(study: optuna.Study, pick: str) -> str:
    """`auto` made concrete: `confirmed` where the study has a confirmation, else `knee`."""
    if pick == "auto":
        return "confirmed" if stored_confirmation(study) is not None else "knee"
    return pick


def _pick(study: optuna.Study, pick: str) -> tuple[FrozenTrial, str]:
    """pick_trial's trial, and the rule that picked it ("" for trial:N)."""
    pick = resolve_pick(study, pick)
    if pick == "confirmed":
        return _confirmed(study)
    kind, _, arg = pick.partition(":")
    if kind == "trial":
        try:
            number = int(arg)
        except ValueError:
            raise BadInput(f"--pick trial:N needs a trial number, got {pick!r}") from None
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        if number not in trials:
            raise BadInput(f"study {study.study_name!r} has no trial {number} (trials 0 to {len(trials) - 1})")
        why = _why_not(TrialRecord.of(trials[number], StudyRecord.of(study).store))
        if why:
            raise BadInput(f"trial {number} of study {study.study_name!r} {why}: only completed trials can be exported; pick another (see `momnas plot`)")
        return trials[number], ""
    if kind not in ("knee", "best") or (kind == "knee" and arg) or (kind == "best" and not arg):
        raise BadInput(f"unknown --pick {pick!r}: use auto, confirmed, knee, best:OBJECTIVE (e.g. best:instability) or trial:N")
    eligible = _eligible(study)
    signs = _signs(study)
    if kind == "knee":
        return knee(study, eligible, signs)
    i = _objective_index(study, arg)
    others = [j for j in range(len(signs)) if j != i]
    chosen = min(eligible, key=lambda t: (signs[i] * t.values[i], *(signs[j] * t.values[j] for j in others), t.number))
    return chosen, f"the best {study.metric_names[i] if study.metric_names else arg} of {len(eligible)} completed trials (one run each)"


def _confirmed(study: optuna.Study) -> tuple[FrozenTrial, str]:
    """The confirmed cell with the best mean validation metric over its seeds."""
    confirmation = stored_confirmation(study)
    if confirmation is None:
        raise BadInput(f"study {study.study_name!r} has no confirmation: run `momnas confirm` first, or --pick knee")
    best = confirmation.best()
    if best is None:
        raise BadInput(f"no confirmed run of study {study.study_name!r} completed; see `momnas status`, or --pick knee")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    first, second = confirmation.metric_names
    return trials[best.trial], (f"the knee of {len(confirmation.cells)} confirmed cells' means over {len(best.finite(0))} "
                                f"fresh seeds at the target of {confirmation.target_epochs} epochs ({first} "
                                f"{best.mean(0):.4g} ± {best.std(0):.2g}, {second} {best.mean(1):.3g} ± {best.std(1):.2g})")

# -------------------------------------------------------------------------------- writing


def _checkpoint(study: optuna.Study, trial: FrozenTrial, dest: Path, out_dir: str | os.PathLike | None) -> Path | None:
    """Copy the trial's checkpoint artifact to `dest` and check that it loads; None when it kept none."""
    artifacts = TrialRecord.of(trial).artifacts  # their names and ids: user and system attributes
    artifact_id = artifacts.get(CHECKPOINT_NAME) or next((a for name, a in artifacts.items() if name.endswith(".pt")), None)
    if artifact_id is None:
        return None
    from optuna.artifacts import FileSystemArtifactStore, download_artifact

    import runs
    from search._study import study_artifact_dir

    folder = study_artifact_dir(study, out_dir)
    try:
        download_artifact(artifact_store=FileSystemArtifactStore(str(folder)), file_path=str(dest), artifact_id=artifact_id)
    except FileNotFoundError:
        raise BadInput(
            f"trial {trial.number}'s checkpoint (artifact {artifact_id}) is missing from {folder}: "
            "restore that folder (it holds the search's checkpoints) and export again"
        ) from None
    try:
        runs.load(dest)
    except ValueError as exc:
        raise BadInput(f"trial {trial.number}'s checkpoint (artifact {artifact_id}) cannot be exported: {exc}") from None
    return dest


def _write_program(weights: Path, program: Path) -> float:
    """`torch.export` the trained model of `weights`, check the program against the model, and
    only then write it to `program`; returns the largest output difference.

    Refused with a one-line ValueError (nothing written to `program`) when the family cannot
    be exported or its program computes something else than the model."""
    import torch

    import runs

    model = runs.load(weights).eval()
    family = model.run_config.cell.family
    task = runs.load_task(model.run_config.task)
    example = task.val.x[:4].float()  # real inputs of the task's shape (B, T, input_size)
    # Other inputs and another batch size: a value or a size baked into the program shows here.
    samples = (example, task.val.x[-3:].float())
    with torch.no_grad():
        try:
            # The batch dimension stays free where the cell allows it (AUTO: static where it must be).
            exported = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
            diff = _largest_difference(exported.module(), model, samples)
        except Exception as exc:  # torch.export raises many types; each means "not exportable"
            why = (str(exc).strip().splitlines() or [""])[0][:200]
            raise BadInput(f"{family} cannot be exported with torch.export ({type(exc).__name__}: {why}); "
                             "export it with --format json instead") from None
        if not diff <= 1e-5:
            raise BadInput(f"the torch.export program of {family} differs from the model by {diff:.3g} on validation "
                             "inputs, so it was not written; export it with --format json instead")
        torch.export.save(exported, program)
        diff = max(diff, _largest_difference(torch.export.load(program).module(), model, samples))
    if not diff <= 1e-5:
        raise RuntimeError(f"torch.export program {program} differs from the model by {diff:.3g} after saving and loading")
    return diff


def _largest_difference(program, model, samples) -> float:
    """The largest absolute difference between the program's and the model's outputs over `samples`."""
    return max((program(x) - model(x)).abs().max().item() for x in samples)


def _check_target(path: Path, fmt: str, overwrite: bool) -> None:
    """Refuse, before writing anything, a target that is a folder, lies under a file, or exists
    (unless `overwrite`): an export never silently replaces a file."""
    if path.is_dir():
        raise BadInput(f"--to {path} is a folder; name the JSON file to write, e.g. --to {path / 'best.json'}")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise BadInput(f"--to {path}: {blocker} is a file, so the folder cannot be made; give another --to")
    targets = [path, path.with_suffix(".pt")] + ([path.with_suffix(".pt2")] if fmt == "torch-export" else [])
    found = [str(p) for p in targets if p.exists()]
    if found and not overwrite:
        raise BadInput(f"{', '.join(found)} already exist{'s' if len(found) == 1 else ''}: add --overwrite to "
                              f"replace {'it' if len(found) == 1 else 'them'}, or give another --to")


def export_trial(
    study: optuna.Study,
    to: str | os.PathLike,
    *,
    pick: str = "auto",
    fmt: str = "json",
    storage: str | None = None,
    overwrite: bool = False,
    out_dir: str | os.PathLike | None = None,
) -> Exported:
    """Write the trial `pick` chooses as a cell file at `to` (docs/architecture.md, "Exported cell").

    Example:
        >>> from search import open_study
        >>> export_trial(open_study("momnas-runs"), "best.json", pick="knee")
        Exported(trial=..., pick='knee', path=PosixPath('best.json'), weights=PosixPath('best.pt'), ...)

    Args:
        study: A study written by `momnas search`.
        to: The JSON file to write (its folder is created). The weights go beside it as
            `<stem>.pt`, the program as `<stem>.pt2`.
        pick: See `pick_trial`.
        fmt: `json`, or `torch-export` to also write a `torch.export` program of the trained
            model (needs the trial's checkpoint), checked against the model on validation inputs.
        storage: The storage URL to record as the source (its password is left out).
        overwrite: Replace files an earlier export left at `to` (else they are refused).
        out_dir: The study's `--out` folder: its `artifacts/` holds the checkpoints wherever the
            folder was moved (else the folder the search recorded).

    Returns:
        An `Exported` naming the trial and the files written.
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    pick = resolve_pick(study, pick)
    trial, why = _pick(study, pick)
    path = Path(to)
    _check_target(path, fmt, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = TrialRecord.of(trial, StudyRecord.of(study).store)
    run = record.run_config
    confirmation = stored_confirmation(study)
    confirmed = next((c for c in confirmation.cells if c.trial == trial.number), None) if confirmation else None

    # All or nothing: every file is written under a temporary name and checked, then all are
    # moved into place; a failure leaves no partial export to block the retry.
    final = {"json": path, "weights": path.with_suffix(".pt"), "program": path.with_suffix(".pt2")}
    staged = {key: target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}") for key, target in final.items()}
    try:
        weights = _checkpoint(study, trial, staged["weights"], out_dir)
        if fmt == "torch-export" and weights is None:
            raise BadInput(
                f"trial {trial.number} kept no checkpoint, so there are no trained weights to export as a program: "
                f"export it as json and retrain it with `momnas train {path}`"
            )
        diff = _write_program(weights, staged["program"]) if fmt == "torch-export" else None
        data = {
            "cell": run["cell"],
            "task": run.get("task", StudyRecord.of(study).task),
            "train": run.get("train", {}),
            "source": {"study": study.study_name, "trial": trial.number, "storage": public_url(storage), "pick": pick,
                       "why": why},
            "metrics": record.metrics or {},
        }
        if confirmed is not None:  # the trial's one run above; these, its retraining with fresh seeds
            data["metrics"]["confirmed"] = {
                name: {"mean": confirmed.mean(k), "std": confirmed.std(k), "seeds": list(confirmed.seeds),
                       "values": [v[k] for v in confirmed.values]}
                for k, name in enumerate(confirmation.metric_names)}
        if weights is not None:
            data["weights"] = final["weights"].name  # relative to the JSON file
        with open(staged["json"], "w") as f:  # the umask's mode, as the weights beside it
            json.dump(data, f, indent=2, allow_nan=True)
            f.write("\n")
        for key in ("weights", "program", "json"):  # best.json last: it is what names the others
            if staged[key].exists():
                os.replace(staged[key], final[key])
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    return Exported(
        trial.number, pick, path, final["weights"] if weights is not None else None,
        final["program"] if fmt == "torch-export" else None, diff,
        why,
    )
