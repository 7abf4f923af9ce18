"""Compact CSV summaries of a `benchmarks/gpu_reproduce.sh` output folder, so the per-epoch
curves and per-seed numbers behind docs/reproduction.md stay in the repository without the
runs' checkpoints. Run once: python summarize.py REPRO_OUT_DIR [DEST_DIR]."""
import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

PRESETS = ("momentum-psmnist", "search-momentum-psmnist")


def _read(path: Path):
    return json.loads(path.read_text())


def _runs(root: Path, preset: str):
    """(plan entry, curves, metrics, host) for every planned run of a preset that finished."""
    for run in _read(root / preset / "plan.json")["runs"]:
        folder = root / preset / "runs" / run["id"]
        if (folder / "metrics.json").exists():
            yield run, _read(folder / "curves.json"), _read(folder / "metrics.json"), _read(folder / "host.json")


def main(root: Path, dest: Path) -> None:
    per_run, per_epoch = [], []
    for preset in PRESETS:
        cells = defaultdict(list)
        for run, curves, metrics, host in _runs(root, preset):
            cells[(run["label"], run["hidden"])].append((run["seed"], curves))
            per_run.append({
                "preset": preset, "cell": run["label"], "hidden": run["hidden"], "seed": run["seed"],
                "epochs": metrics["epochs"], "test_accuracy": metrics["test"]["accuracy"],
                "val_accuracy": metrics["validation"]["accuracy"],
                "grad_ratio_log10": round(metrics["stability"]["grad_ratio_log10"], 3),
                "seconds": metrics["seconds"], "gpu_share": host["gpus"], "hardware": host["hardware"]})
        for (label, hidden), seeded in cells.items():
            seeded.sort(key=lambda pair: pair[0])
            for i in range(min(len(c["epoch"]) for _, c in seeded)):
                val = [c["val_accuracy"][i] * 100 for _, c in seeded]
                per_epoch.append({
                    "preset": preset, "cell": label, "hidden": hidden, "epoch": i + 1, "seeds": len(val),
                    "val_accuracy_mean": round(statistics.fmean(val), 2),
                    "val_accuracy_std": round(statistics.stdev(val), 2) if len(val) > 1 else "",
                    "val_accuracy_per_seed": " ".join(f"{v:.2f}" for v in val),
                    "train_loss_mean": round(statistics.fmean(c["train_loss"][i] for _, c in seeded), 3),
                    "grad_ratio_log10_mean": round(statistics.fmean(c["grad_ratio_log10"][i] for _, c in seeded), 2)})
    trials = []
    plan = _read(root / PRESETS[1] / "plan.json")
    for seed in range(plan["search"]["seeds"]):
        for trial in _read(root / PRESETS[1] / "search" / f"seed{seed}" / "trials.json"):
            metrics = trial.get("metrics") or {}
            trials.append({
                "seed": seed, "trial": trial["number"], "state": trial["state"], "family": trial["family"],
                "params": " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial["params"].items()),
                "val_accuracy": metrics.get("validation", {}).get("accuracy", ""),
                "test_accuracy": metrics.get("test", {}).get("accuracy", ""),
                "instability": round(metrics["stability"]["instability"], 3) if metrics.get("stability") else "",
                "seconds": metrics.get("seconds", "")})
    for name, rows in (("runs.csv", per_run), ("epoch_means.csv", per_epoch), ("search_trials.csv", trials)):
        with open(dest / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "."))
