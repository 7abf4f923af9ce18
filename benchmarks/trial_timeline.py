"""A search's trials on one time line, from its stored study: when each was drawn, how long it
waited for its trainable, started, trained, and when it was done (issue 10: where a search's
time goes between its trials' training).

Every momnas trial stores `start_wait_s` (drawn to its trainable entered), `startup_s` (to its
first training step), `worker_trial` (1: a fresh worker process) and its metrics' `seconds`
(training and evaluations), and in a local Ray's warm pool `worker_ready_s` ("ready": when its
worker had its imports done, from the draw; negative: before it); Optuna keeps the draw
(`datetime_start`) and the end (`datetime_complete`). "rest" is what is left of draw-to-done:
reporting and recording (less the first step's time, which `startup_s` and the training both
count: negative for a fresh worker).

    python3 benchmarks/trial_timeline.py OUT/scale/gpus-1/optuna.db            # every study in it
    python3 benchmarks/trial_timeline.py sqlite:///OUT/optuna.db --study scale
"""

from __future__ import annotations

import argparse


def timeline(study) -> list[dict]:
    """One row per trial with a draw time, in draw order; times in seconds from the first draw."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start]
    first = min(t.datetime_start for t in trials)
    rows = []
    for t in sorted(trials, key=lambda t: t.datetime_start):
        attrs = t.user_attrs
        drawn = (t.datetime_start - first).total_seconds()
        done = (t.datetime_complete - first).total_seconds() if t.datetime_complete else None
        parts = [attrs.get("start_wait_s"), attrs.get("startup_s"), (attrs.get("metrics") or {}).get("seconds")]
        rest = done - drawn - sum(p for p in parts if p is not None) if done is not None else None
        rows.append({"trial": t.number, "family": attrs.get("family", "?"), "worker_trial": attrs.get("worker_trial"),
                     "drawn": drawn, "ready": attrs.get("worker_ready_s"), "wait": parts[0], "startup": parts[1],
                     "training": parts[2], "rest": rest,
                     "done": done, "state": t.state.name, "status": attrs.get("status")})
    return rows


def storage_url(text: str) -> str:
    """A storage URL as given, or an optuna.db file's SQLite URL."""
    return text if "://" in text else f"sqlite:///{text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage", help="an optuna.db file or a storage URL")
    parser.add_argument("--study", help="one study (default: every study in the storage)")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = storage_url(args.storage)
    names = optuna.get_all_study_names(url)
    if args.study is not None:
        if args.study not in names:
            parser.error(f"no study {args.study!r} in {args.storage}; it holds: {', '.join(names) or 'none'}")
        names = [args.study]

    def cell(value) -> str:
        return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)

    for name in names:
        rows = timeline(optuna.load_study(study_name=name, storage=url))
        print(f"study {name}: {len(rows)} trials, seconds from the first draw\n")
        keys = ["drawn", "trial", "family", "worker_trial", "ready", "wait", "startup", "training", "rest", "done", "state"]
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(cell(row[k]) for k in keys) + " |")
        print()


if __name__ == "__main__":
    main()
