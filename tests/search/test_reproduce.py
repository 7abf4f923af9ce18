"""`momnas reproduce`: presets hold the published recipes, every preset trains at a tiny budget to a
report that holds the published numbers, the report is right on stored metrics, runs resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cells
import runs
from search.cli import app
from search.reproduce import markdown, plan, presets, report_info, write_report
from search.reproduce._claim import CLAIM_FILE, hand_picked_seconds, search_dir, storage
from search.reproduce._execute import run_dir, write_plan
from search.reproduce.report import figures

pytestmark = pytest.mark.usefixtures("few_threads")


def test_every_preset_expands_to_runs_whose_cells_build():
    assert set(presets()) == {"momentum-psmnist", "momentum-smnist", "dtriv-psmnist", "cornn",
                              "unicornn-psmnist", "copying", "science-psmnist", "science-adding"}
    for name in presets():
        full = plan(name, seeds=2)
        assert full.budget == "full" and full.runs
        assert len({r.id for r in full.runs}) == len(full.runs), f"{name}: two runs share a folder"
        built = set()
        for run in full.runs:
            assert run.config.train.seed == run.seed
            key = json.dumps(run.config.cell.to_dict(), sort_keys=True)
            if key not in built:
                cells.build_cell(run.config.cell)
                built.add(key)


def test_momentum_psmnist_is_momentumrnns_recipe_with_its_published_numbers():
    full = plan("momentum-psmnist", seeds=1)
    momentum = {r.hidden: r for r in full.runs if r.label == "Momentum LSTM"}
    assert set(momentum) == {128, 256}
    assert (momentum[128].published, momentum[256].published) == (93.40, 94.72)
    cell, train = momentum[128].config.cell, momentum[128].config.train
    assert (cell.core, cell.dynamics, cell.mu, cell.s) == ("lstm", "momentum", 0.6, 1.0)
    assert (train.optimizer, train.lr, train.batch_size, train.clip, train.epochs) == ("rmsprop", 1e-3, 128, 1.0, 150)
    assert plan("momentum-psmnist", budget=10, seeds=1).runs[0].config.train.epochs == 10
    # A size the paper did not publish for a cell shows the number it did publish, with its n.
    adam = next(r for r in plan("momentum-psmnist", hidden=128).runs if r.label == "Adam LSTM")
    assert (adam.published, adam.published_hidden) == (95.05, 256)


def test_docstring_example_runs():
    import doctest

    import search.reproduce._presets as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="choose one of copying"):
        plan("nope")
    result = CliRunner().invoke(app, ["reproduce", "copying", "--budget", "ten"])
    assert result.exit_code == 2 and "--budget must be a positive number of epochs or 'full'" in result.output
    result = CliRunner().invoke(app, ["reproduce", "copying", "--seeds", "0"])
    assert result.exit_code == 2 and "--seeds must be a positive integer" in result.output


@pytest.mark.slow
def test_every_preset_trains_at_a_tiny_budget_to_a_report_with_the_published_numbers(tmp_path, mnist_dir):
    loaded: dict[str, runs.Task] = {}
    for name in presets():
        tiny = plan(name, seeds=1, tiny=True, data_dir=str(mnist_dir))
        out = tmp_path / name
        write_plan(out, tiny)
        for run in tiny.runs:
            task_key = json.dumps(run.config.task.to_dict(), sort_keys=True)
            task = loaded.setdefault(task_key, runs.load_task(run.config.task))
            result = runs.train(run.config, task=task, out_dir=run_dir(out, run))
            assert result.status == "completed", f"{name}: {run.id}"
        info = report_info(out)
        assert all(row["completed"] == row["planned"] == 1 and row["mean"] is not None for row in info["rows"]), name
        text = markdown(info)
        for run in tiny.runs:
            assert f"| {run.label} | 8 |" in text
            published = run.published
            if published is not None:
                assert (f"{published:.2f}" if isinstance(published, float) else str(published)) in text
        assert "Budget: tiny" in text
        # One seed: no spread to show (before: "± 0.0000"); a subset of the data: not set against the paper.
        assert sum(line.startswith("| ") and "(n = 1)" in line for line in text.splitlines()) == len(tiny.runs)
        assert "± 0.0" not in text
        assert text.count("these runs differ") == len({run.table for run in tiny.runs})


def _metrics(accuracy: float, ratio: float, seconds: float = 100.0) -> dict:
    return {"status": "completed", "task": "psmnist", "metric": "accuracy", "direction": "maximize",
            "validation": {"accuracy": accuracy, "loss": 0.3}, "test": {"accuracy": accuracy, "loss": 0.3},
            "baseline": 0.11, "stability": {"grad_ratio_log10": ratio, "instability": abs(ratio), "grad_norm_max": 1.0,
                                            "loss_spikes": 0, "diverged": False},
            "epochs": 2, "steps": 860, "seconds": seconds}


def _store(out: Path, run, metrics: dict, curve_acc: list[float], gpus: float = 0.25) -> None:
    folder = run_dir(out, run)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run.config.to_dict()))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "curves.json").write_text(json.dumps({"epoch": [1, 2], "val_accuracy": curve_acc,
                                                    "grad_ratio_log10": [-3.0, metrics["stability"]["grad_ratio_log10"]]}))
    (folder / "host.json").write_text(json.dumps({"hardware": "NVIDIA H200", "gpus": gpus, "node": "n"}))


def test_report_on_stored_metrics_gives_mean_std_the_published_number_and_missing_runs(tmp_path):
    stored = plan("momentum-psmnist", budget=2, seeds=3, hidden=128)
    write_plan(tmp_path, stored)
    lstm = [r for r in stored.runs if r.label == "LSTM"]
    momentum = [r for r in stored.runs if r.label == "Momentum LSTM"]
    for run, acc in zip(lstm, (0.90, 0.91, 0.92)):
        _store(tmp_path, run, _metrics(acc, -2.0), [0.5, acc])
    for run, acc in zip(momentum[:2], (0.93, 0.95)):
        _store(tmp_path, run, _metrics(acc, -1.0), [0.7, acc])
    info = report_info(tmp_path)
    rows = {r["label"]: r for r in info["rows"]}
    assert rows["LSTM"]["mean"] == pytest.approx(91.0) and rows["LSTM"]["std"] == pytest.approx(1.0)
    assert info["gpu_seconds"] == pytest.approx(5 * 100 * 0.25) and info["hardware"] == ["NVIDIA H200"]
    assert info["curves"][("psMNIST", "Momentum LSTM", 128)]["val_accuracy"] == pytest.approx([0.7, 0.94])
    text = markdown(info)
    assert "| LSTM | 128 | 91.00 ± 1.00 | 3/3 | 92.00 | -1.00 | -2.0 | 2 | 860 | 100 s |" in text
    assert "| Momentum LSTM | 128 | 94.00 ± 1.41 | 2/3 | 93.40 | +0.60 |" in text
    assert "| Adam LSTM | 128 | – | 0/3 | 95.05 (n=256) | – |" in text
    assert info["full_gpu_hours"] is None  # not every cell was measured: no estimate
    assert "Budget: 2 epochs; seeds: 3" in text and "RMSProp LSTM: s and beta not published" in text
    md, html = write_report(tmp_path)
    assert md.read_text() == text
    assert "plotly" in html.read_text() and (tmp_path / "plotly.min.js").is_file()


def test_tiny_report_says_what_ran_and_html_is_a_page_of_tables_and_figures(tmp_path):
    # Before: "Copying problem, T = 1000" compared with 0.0204 for runs at T = 32, "± 0.0000" for one
    # seed, "0 CPU-only seconds", "s per run 0", and report.html was the Markdown inside <pre>.
    from html.parser import HTMLParser

    tiny = plan("copying", seeds=1, tiny=True)
    write_plan(tmp_path, tiny)
    for run, loss in zip(tiny.runs, (2.31, 2.45, 2.53, 2.48, 2.30)):
        folder = run_dir(tmp_path, run)
        folder.mkdir(parents=True)
        metrics = {"status": "completed", "task": "copying", "metric": "cross_entropy", "direction": "minimize",
                   "validation": {"cross_entropy": loss, "loss": loss}, "test": {"cross_entropy": loss, "loss": loss}, "baseline": 0.39989,
                   "stability": {"grad_ratio_log10": 0.9, "instability": 0.9, "grad_norm_max": 1.0, "loss_spikes": 0, "diverged": False},
                   "epochs": 1, "steps": 2, "seconds": 0.1}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "curves.json").write_text(json.dumps({"epoch": [1.0], "val_cross_entropy": [loss], "grad_ratio_log10": [0.9]}))
        (folder / "host.json").write_text(json.dumps({"hardware": "CPU (x86_64, 2 threads)", "gpus": 0.0, "node": "n"}))
    info = report_info(tmp_path)
    table = info["tables"][0]
    assert table["task"]["T"] == 32 and table["published_task"] == {"name": "copying", "T": 1000}
    assert table["changes"] == ["T = 32, not 1000", "a subset of the data, not the full sets"]
    text = markdown(info)
    assert "Task: copying, T = 32, 32 / 16 / 16 training / validation / test examples." in text
    assert "The published numbers are for copying, T = 1000; these runs differ (T = 32, not 1000;" in text
    assert "baseline (a model that learns nothing) at this size: 0.3999" in text
    assert "| LSTM | 8 | 2.3000 (n = 1) | 1/1 | stays at 0.0204 (n=128) | – | 0.9 | 1 | 2 | 0.1 s |" in text
    assert "Training time measured: 0.5 s on CPUs only." in text and "Hardware: CPU (x86_64, 2 threads)." in text
    assert "GPU-seconds" not in text and "± 0.0000" not in text

    md, page = write_report(tmp_path)
    found: dict[str, int] = {}

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found[tag] = found.get(tag, 0) + 1

    Tags().feed(page.read_text())
    assert found.get("table") == 1 and found.get("th") == 10 and found.get("tr") == 6 and "pre" not in found
    html_text = page.read_text()
    assert "<title>Copying problem, T = 1000 — reproduction (tiny" in html_text
    assert html_text.count("Plotly.newPlot") == 1 and "src='plotly.min.js'" in html_text
    title = figures(info)["copying, T = 1000"].layout.title.text
    assert title.startswith("copying, T = 1000<br>") and "as run: copying, T = 32" in title  # before: the title twice over


def test_a_search_preset_trains_every_cell_to_the_target_and_its_budget_comes_from_the_hand_picked_runs(tmp_path):
    stored = plan("science-psmnist", budget=6, seeds=3)
    assert {run.config.train.epochs for run in stored.runs} == {6} and stored.search["epochs"] == 6  # one target for all
    assert [r.label for r in stored.runs if r.hand_picked] == ["Momentum LSTM (hand-picked)"] * 3
    write_plan(tmp_path, stored)
    for run in stored.runs:
        # The hand-picked runs trained alone (a whole GPU each), the others packed.
        _store(tmp_path, run, _metrics(0.8, -1.0, seconds=30.0 if run.hand_picked else 50.0), [0.5, 0.8],
               gpus=1.0 if run.hand_picked else 0.25)
    assert hand_picked_seconds(tmp_path, stored) == pytest.approx(30.0)
    assert storage(tmp_path) == f"sqlite:///{(search_dir(tmp_path) / 'optuna.db').resolve()}"  # named, never MOMNAS_STORAGE


def test_the_claim_report_judges_the_confirmed_best_by_its_seed_spread(tmp_path):
    from search.confirm import Confirmation, ConfirmedCell

    stored = plan("science-psmnist", budget=6, seeds=3)
    write_plan(tmp_path, stored)
    accuracy = {"Momentum LSTM (hand-picked)": (0.80, 0.81, 0.79), "UnICORNN (best published)": (0.88, 0.90, 0.89)}
    for run in stored.runs:
        _store(tmp_path, run, _metrics(accuracy[run.label][run.seed], -1.5), [0.5, 0.8], gpus=1.0 if run.hand_picked else 0.25)
    cells = (ConfirmedCell(12, "plain-urnn", None, (1, 2, 3), ((0.91, 1.0), (0.92, 1.1), (0.93, 0.9)), ("completed",) * 3, (0.92, 1.0)),
             ConfirmedCell(3, "plain-unicornn", "UnICORNN (3 layers)", (1, 2, 3), ((0.90, 1.4), (0.89, 1.5), (0.91, 1.6)),
                           ("completed",) * 3, (0.9, 1.5)))
    claim = {"budget_gpu_seconds": 240.0, "hand_picked_gpu_seconds": 30.0, "devices": 1, "search_seconds": 150.0,
             "confirm_seconds": 60.0, "calls": 1,
             "confirmed": Confirmation("claim", 6, ("val_accuracy", "instability"), True, cells, "x", 60.0, prior_trial=3).to_dict()}
    search_dir(tmp_path).mkdir(parents=True)
    (search_dir(tmp_path) / CLAIM_FILE).write_text(json.dumps(claim))
    info = report_info(tmp_path)
    verdicts = {than: v.answer for than, v in info["search"]["verdicts"]}
    # 0.92 ± 0.01 against the prior's 0.90 ± 0.01: the intervals touch, so accuracy is within the spread;
    # instability 1.0 ± 0.1 against 1.5 ± 0.1 is better beyond it: yes.
    assert verdicts["than the best prior, trial 3 (UnICORNN (3 layers))"] == "yes"
    assert verdicts["than Momentum LSTM (hand-picked)"] == "yes"      # more accurate, instability 1.0 < 1.5
    assert verdicts["than UnICORNN (best published)"] == "yes"
    text = markdown(info)
    assert "Budget: 8 x 30 s (one hand-picked run, trained alone) = 240 s of GPU time" in text
    assert "Spent: search 150 s, confirmation 60 s on 1 device(s): 210 s, 88% of the budget" in text
    assert "| trial 12 (plain-urnn) | 3 | 0.9200 ± 0.0100 |" in text


@pytest.mark.slow
def test_reproduce_trains_through_ray_resumes_and_refuses_another_budget(tmp_path, ray_session, mnist_dir):
    out = tmp_path / "dtriv"
    args = ["reproduce", "dtriv-psmnist", "--tiny", "--seeds", "1", "--data-dir", str(mnist_dir), "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "| DTRIV (K=1) | 8 |" in first.output and "94.90 (n=170)" in first.output
    done = sorted(out.glob("runs/psmnist/*/metrics.json"))
    assert len(done) == 2 and (out / "report.html").is_file()
    # Interrupted before its metrics were written: only that run trains again.
    kept, cut = done
    kept_time = kept.stat().st_mtime_ns
    cut.unlink()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert cut.is_file() and kept.stat().st_mtime_ns == kept_time
    # The same folder with another budget would mix two experiments: refused, nothing touched.
    other = CliRunner().invoke(app, [*args[:2], "--budget", "1", "--hidden", "8", "--seeds", "1",
                                     "--data-dir", str(mnist_dir), "--out", str(out)])
    assert other.exit_code == 2 and "holds a finished run of another configuration" in other.output
    assert kept.stat().st_mtime_ns == kept_time
    # More GPU than this Ray has: refused before anything is written.
    greedy = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "greedy"), "--gpus-per-run", "1"])
    assert greedy.exit_code == 2 and "--gpus-per-run 1 but this machine has no GPU" in greedy.output
    assert not (tmp_path / "greedy").exists()


@pytest.mark.slow
def test_a_search_preset_searches_confirms_and_goes_on_where_it_stopped(tmp_path, ray_session):
    out = tmp_path / "science"
    args = ["reproduce", "science-adding", "--tiny", "--seeds", "2", "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    claim = json.loads((out / "search" / CLAIM_FILE).read_text())
    assert claim["calls"] == 1 and claim["confirmed"]["cells"] and claim["hand_picked_gpu_seconds"] > 0
    text = (out / "report.md").read_text()
    assert "## The search and its confirmation" in text and "The confirmed answer" in text
    assert "than Momentum LSTM (hand-picked):" in text and "than coRNN (published):" in text
    # The budget is spent and the answer confirmed: the same command trains nothing more.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "search" / CLAIM_FILE).read_text())["calls"] == 1
