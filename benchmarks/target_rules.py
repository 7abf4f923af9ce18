"""How early stopping treated a search's families, and what other rules would have done with its curves.

    python3 benchmarks/target_rules.py OUT/optuna.db --study NAME            # per family: how far, stopped where
    python3 benchmarks/target_rules.py OUT/optuna.db --study NAME --replay   # rules replayed on full curves

Per family: its trials, how far its furthest trial trained, its trials stopped at each rung and
whether that rung ranked within the family (before `within_family` of the target), and the
priors' states: issue 21's target is that every family has a trial that reached a third of the
target, or was stopped only by its own family, and that every prior completes.

`--replay` takes a study whose trials trained to the target without early stopping (their
curves are whole) and replays each rule on them in trial order, through the scheduler itself
(search.mo_asha.MOASHA.decide and search._brackets.Brackets): the epochs it would have trained,
how many families kept a trial past a third of the target, and the best validation metric at the
target among the trials it let finish, against the study's best (regret).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from search import StudyRecord, TrialRecord, open_study, rung_fidelity  # noqa: E402
from search._brackets import Brackets  # noqa: E402
from search._fidelity import metric_at  # noqa: E402


def families(study: optuna.Study) -> None:
    info = StudyRecord.of(study)
    config = info.config or {}
    within = float(config.get("within_family", 1 / 3)) * (info.target_epochs or 0)
    records = [TrialRecord.of(t) for t in study.trials if t.state.is_finished() and not TrialRecord.of(t).interrupted]
    by_family: dict[str, list[TrialRecord]] = defaultdict(list)
    for r in records:
        by_family[r.family].append(r)
    target = info.target_epochs or 0
    print(f"target {target} epochs, rungs {info.rungs}, within-family ranking before epoch {within:g}")
    print(f"{'family':<22} {'trials':>6} {'complete':>8} {'furthest':>8}  stopped at (rung: n)      meets target")
    met_all = True
    for family, group in sorted(by_family.items()):
        stops = defaultdict(int)
        for r in group:
            if r.stopped_at is not None:
                stops[r.stopped_at] += 1
        furthest = max((r.epochs_trained or 0) for r in group)
        only_own = all(at < within for at in stops)
        meets = furthest >= target / 3 - 1e-9 or only_own
        met_all &= meets
        shown = ", ".join(f"{at:g}{' (family)' if at < within else ''}: {n}" for at, n in sorted(stops.items())) or "-"
        print(f"{family:<22} {len(group):>6} {sum(r.completed for r in group):>8} {furthest:>8g}  {shown:<24} {'yes' if meets else 'NO'}")
    priors = [r for r in records if r.prior]
    done = [r for r in priors if r.completed]
    print(f"families meeting the target: {'all' if met_all else 'not all'}; priors completed: {len(done)} of {len(priors)}"
          + "".join(f"\n  prior {r.prior}: {r.state.name.lower()}, {r.epochs_trained} epochs, {r.values}" for r in priors))
    for f in rung_fidelity(study):
        print(f"rung {f.epoch:g}: Spearman {('-' if f.spearman is None else f'{f.spearman:+.2f}')} over {f.trials} trials")


def replay(study: optuna.Study) -> None:
    from search.mo_asha import MOASHA

    info = StudyRecord.of(study)
    target = info.target_epochs
    maximize = info.maximize
    full = [TrialRecord.of(t) for t in study.trials if TrialRecord.of(t).completed]
    full = [r for r in full if (r.epochs_trained or 0) >= target - 1e-9]
    if len(full) < 8:
        raise SystemExit(f"{len(full)} trials reached the target: too few to replay")
    best_all = max(r.values[0] for r in full) if maximize else min(r.values[0] for r in full)
    families = {r.family for r in full}
    print(f"{len(full)} trials of {len(families)} families trained to the target of {target} epochs; "
          f"best {info.metric_names[0]} {best_all:.4f}")
    print(f"{'rule':<38} {'epochs':>7} {'share':>6} {'families >= 1/3':>15} {'best kept':>10} {'regret':>8}")
    rules = [("no early stopping", None, 0.0)]
    for eta in (3,):
        for count in (None, 3, 2):
            for within in (0.0, 1 / 3, 1 / 2):
                plan = Brackets.hyperband(grace=1, eta=eta, target=target, count=count)
                name = f"hyperband {len(plan.rungs)} brackets, within {within:.2f}"
                rules.append((name, plan, within))
        for within in (0.0, 1 / 3):
            rules.append((f"mo-asha (one bracket), within {within:.2f}", Brackets.single(grace=1, eta=eta, target=target), within))
    for name, plan, within in rules:
        spent, kept, reached = 0.0, [], defaultdict(float)
        scheduler = MOASHA(metrics=["m", "i"], modes=["max" if maximize else "min", "min"], eta=3, family_until=within * target)
        counts = [0] * (len(plan.rungs) if plan else 1)
        for r in full:
            rungs = []
            if plan is not None and not r.prior:
                bracket = plan.assign(sum(counts), counts)
                counts[bracket] += 1
                rungs = plan.rungs[bracket]
            stopped = None
            for at in rungs:
                point = [metric_at(r.curve, at), _instability_at(r.curve, at)]
                if scheduler.decide(str(r.number), at, point, rungs=rungs, family=r.family) == "STOP":
                    stopped = at
                    break
            trained = stopped if stopped is not None else target
            spent += trained
            reached[r.family] = max(reached[r.family], trained)
            if stopped is None:
                kept.append(r)
        best = (max if maximize else min)(r.values[0] for r in kept)
        regret = (best_all - best) if maximize else (best - best_all)
        keep = sum(1 for f in families if reached[f] >= target / 3 - 1e-9)
        print(f"{name:<38} {spent:>7.0f} {spent / (len(full) * target):>6.0%} {keep:>9}/{len(families):<5} {best:>10.4f} {regret:>8.4f}")


def _instability_at(curve: list[dict], epoch: float) -> float | None:
    value = None
    for point in curve:
        if point["epoch"] <= epoch + 1e-9 and point.get("instability") is not None:
            value = point["instability"]
    return value if value is None or math.isfinite(value) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="the study's optuna.db")
    parser.add_argument("--study")
    parser.add_argument("--replay", action="store_true", help="replay early-stopping rules on a study without early stopping")
    args = parser.parse_args()
    study = open_study(storage=f"sqlite:///{Path(args.db).resolve()}", study=args.study)
    families(study)
    if args.replay:
        replay(study)


if __name__ == "__main__":
    main()
