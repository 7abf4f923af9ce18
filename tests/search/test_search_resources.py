"""`--gpus-per-trial auto`: one GPU share per trial where there are GPUs, none where there are
not (a real local Ray on this CPU-only machine), and a bad value refused in one line."""

import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from search import SearchConfig, TrialRecord, finished_trials, run_search
from search._resources import AUTO, GPU_SHARE, ray_gpus, trial_device, trial_resources
from search.cli import app
from tests_search_helpers import TINY, Recorder


def test_auto_packs_every_trial_at_one_share_where_there_are_gpus():
    # Tune hands a finished trial's worker only to a trial asking for the same resources: with
    # one share for all, any family's trial reuses any worker instead of paying a fresh start.
    assert trial_resources(AUTO, 1, gpus_available=2).as_tune() == {"cpu": 1, "gpu": GPU_SHARE}
    assert trial_resources(AUTO, 2, gpus_available=0).as_tune() == {"cpu": 2, "gpu": 0.0}
    assert trial_resources(0.25, 1, gpus_available=4).as_tune() == {"cpu": 1, "gpu": 0.25}  # a number for every trial
    assert trial_resources(AUTO, 2.5, gpus_available=0).threads == 2


def test_how_many_trials_the_nodes_run_at_once_counts_cpus_and_the_tightest_gpu_share():
    # Tune is told this bound, so that it starts that many workers together (not one by one).
    cpu_only = [{"CPU": 2.0}]
    assert trial_resources(AUTO, 1, gpus_available=0).most_at_once(cpu_only) == 2
    assert trial_resources(AUTO, 0.5, gpus_available=0).most_at_once(cpu_only) == 4
    two_gpu_nodes = [{"CPU": 16.0, "GPU": 1.0}, {"CPU": 16.0, "GPU": 1.0, "memory": 1e9}]
    assert trial_resources(AUTO, 1, gpus_available=2).most_at_once(two_gpu_nodes) == 16  # 1/8 per Triton trial
    assert trial_resources(AUTO, 4, gpus_available=2).most_at_once(two_gpu_nodes) == 8   # the CPUs bound it
    assert trial_resources(0.5, 1, gpus_available=2).most_at_once(two_gpu_nodes) == 4
    assert trial_resources(AUTO, 1, gpus_available=0).most_at_once([{"CPU": 0.5}]) == 1  # never 0


def test_auto_resolves_to_no_gpu_in_a_local_ray_without_gpus(ray_session):
    assert ray_gpus() == 0
    assert trial_resources(AUTO, 1, ray_gpus()).as_tune() == {"cpu": 1, "gpu": 0}

    # Inside a trial that Ray gave no GPU, `device: auto` trains on the CPU.
    @ray_session.remote(num_cpus=0, num_gpus=0)
    def device_in_a_task(run_config):
        return trial_device(run_config)["train"]["device"]

    assert ray_session.get(device_in_a_task.remote({"train": {"device": "auto"}})) == "cpu"
    assert ray_session.get(device_in_a_task.remote({"train": {"device": "cuda:1"}})) == "cuda:1"


@pytest.mark.slow
def test_a_default_search_here_trains_on_the_cpu_and_stops_at_its_time_budget(ray_session, tmp_path):
    heard = Recorder()
    # 64 trials of 30 epochs, at most 2 at once, take far longer than the 5 s budget on any machine
    config = SearchConfig.from_flat({**TINY, "epochs": 30, "trials": 64, "time_budget_s": 5, "early_stop": "none",
                                     "out": str(tmp_path)})
    outcome = run_search(config, listener=heard)
    assert "gpus: auto → no GPU, trials train on the CPU" in heard.notes
    assert outcome.budget_spent and not outcome.interrupted
    study = outcome.study
    assert len(finished_trials(study)) < 64
    for record in finished_trials(study):
        assert record.run_config["train"]["device"] == "auto"  # pinned to the CPU in the trial
        assert record.node == ray_session.get_runtime_context().get_node_id()
    # The searcher draws a wave ahead (at least 4): what it drew and never started is not left
    # RUNNING beside the (at most 2) trials the budget cut, but queued again for --resume.
    records = [TrialRecord.of(t) for t in study.trials]
    assert [r.state for r in records].count(TrialState.RUNNING) <= 2 and outcome.left_running <= 2
    put_back = [r for r in records if r.status == "not started"]
    assert put_back and all(r.state == TrialState.FAIL and not r.counts for r in put_back)
    queued = [r for r in records if r.state == TrialState.WAITING]
    assert sorted(r.requeued_from for r in queued) == sorted(r.number for r in put_back)


@pytest.mark.parametrize("value", ["lots", "-1", "1.5"])
def test_a_bad_gpus_per_trial_is_one_line_and_exit_2(tmp_path, value):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["search", "--task", "adding", "--T", "20", "--gpus-per-trial", value, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "gpus_per_trial" in lines[0], result.output
    assert not out.exists()


@pytest.mark.parametrize("asked, gpus, mps, line", [
    (AUTO, 1, "on", "gpus: auto → 1 GPU(s), 1/8 per trial of any family, MPS on"),
    (AUTO, 2, "off (no nvidia-cuda-mps-control on PATH)",
     "gpus: auto → 2 GPU(s), 1/8 per trial of any family, MPS off (no nvidia-cuda-mps-control on PATH)"),
    (0.25, 1, "off", "gpus: 0.25 → 0.25 per trial of 1 GPU(s), MPS off (trials sharing a GPU take turns on it; --mps runs them at once)"),
    (1, 2, "off", "gpus: 1 → 1 per trial of 2 GPU(s)"),
    (0, 2, "off", "gpus: 0 → 0 of 2 GPU(s), trials train on the CPU"),
])
def test_one_line_says_what_was_chosen(asked, gpus, mps, line):
    assert trial_resources(asked, 1, gpus).describe(asked, gpus, mps) == line
