"""`--gpus-per-trial auto`: a GPU share per family where there are GPUs, none where there are
not (a real local Ray on this CPU-only machine), and a bad value refused in one line."""

import io

import pytest
from optuna.trial import TrialState
from rich.console import Console
from typer.testing import CliRunner

import spaces
from search import SearchConfig, finished_trials, run_search
from search._record import RUN_KEY
from search._resources import AUTO, GPU_SHARE, fast_path, ray_gpus, trial_device, trial_resources
from search.cli import app
from tests_search_helpers import TINY


def _trial_config(family: str, **options) -> dict:
    dynamics, core = spaces.split_family(family)
    return {RUN_KEY: {"cell": {"core": core, "dynamics": dynamics, **options}}}


@pytest.mark.parametrize("family, path", [
    # cuDNN's fused RNN, and the Triton kernels
    ("momentum-lstm", "fused-rnn"), ("adam-lstm", "fused-rnn"), ("plain-gru", "fused-rnn"), ("momentum-rnn", "fused-rnn"),
    ("momentum-orthogonal", "triton"), ("plain-unitary", "triton"), ("plain-urnn", "triton"), ("plain-enrnn", "triton"),
    ("momentum-cornn", "triton"), ("plain-unicornn", "triton"),
])
def test_auto_gives_each_family_the_share_of_its_path(family, path):
    config = _trial_config(family)
    assert fast_path(config[RUN_KEY]["cell"]) == path
    assert trial_resources(AUTO, 1, gpus_available=2)(config) == {"cpu": 1, "gpu": GPU_SHARE[path]}


def test_the_paper_form_nag_lstm_is_not_packed_as_cudnn():
    assert fast_path(_trial_config("nag_restart-lstm", nag_form="input")[RUN_KEY]["cell"]) == "fused-rnn"
    assert fast_path(_trial_config("nag_restart-lstm", nag_form="paper")[RUN_KEY]["cell"]) != "fused-rnn"


def test_trials_of_every_family_ask_for_the_same_resources():
    # Tune hands a finished trial's worker only to a trial asking for the same resources: with
    # one share for all, any family's trial reuses any worker instead of paying a fresh start
    # (NOTES.md run 26: cuDNN trials at 1/2 of a GPU queued, and started fresh workers late).
    resources = trial_resources(AUTO, 1, gpus_available=2)
    families = {f for s in spaces.list_spaces().values() for f in s.families}
    assert len({tuple(resources(_trial_config(f)).items()) for f in families}) == 1


def test_every_family_of_the_spaces_takes_a_path_that_has_a_share():
    # The paths come from the cores' declarations in cells.fast: a new kernel is packed at once.
    families = {f for s in spaces.list_spaces().values() for f in s.families}
    for family in families:
        for options in ({}, {"nag_form": "paper"}) if family.startswith("nag_restart-") else ({},):
            path = fast_path(_trial_config(family, **options)[RUN_KEY]["cell"])
            assert path in GPU_SHARE, (family, options, path)
    assert fast_path({"core": "a-core-without-fast-paths", "dynamics": "momentum"}) == "hoisted"


def test_a_number_overrides_the_table_for_every_family():
    resources = trial_resources(0.25, 1, gpus_available=4)
    assert {resources(_trial_config(f))["gpu"] for f in ("momentum-lstm", "momentum-orthogonal")} == {0.25}


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
    resources = trial_resources(AUTO, 1, ray_gpus())
    assert resources(_trial_config("momentum-orthogonal")) == {"cpu": 1, "gpu": 0}
    assert resources.largest_gpus == 0

    # Inside a trial that Ray gave no GPU, `device: auto` trains on the CPU.
    @ray_session.remote(num_cpus=0, num_gpus=0)
    def device_in_a_task(run_config):
        return trial_device(run_config)["train"]["device"]

    assert ray_session.get(device_in_a_task.remote({"train": {"device": "auto"}})) == "cpu"
    assert ray_session.get(device_in_a_task.remote({"train": {"device": "cuda:1"}})) == "cuda:1"


@pytest.mark.slow
def test_a_default_search_here_trains_on_the_cpu_and_stops_at_its_time_budget(ray_session, tmp_path):
    text = io.StringIO()
    # 64 trials of 30 epochs, at most 2 at once, take far longer than the 5 s budget on any machine
    config = SearchConfig(**{**TINY, "epochs": 30}, trials=64, time_budget_s=5, early_stop="none", out=str(tmp_path))
    study = run_search(config, console=Console(file=text, width=200))
    assert "gpus: auto → no GPU, trials train on the CPU" in text.getvalue()
    assert len(finished_trials(study)) < 64
    for trial in finished_trials(study):
        assert trial.user_attrs["run_config"]["train"]["device"] == "auto"  # pinned to the CPU in the trial
        assert trial.user_attrs["ray_node_id"] == ray_session.get_runtime_context().get_node_id()
    # The searcher draws a wave ahead (at least 4): what it drew and never started is not left
    # RUNNING beside the (at most 2) trials the budget cut, but queued again for --resume.
    states = [t.state for t in study.trials]
    assert states.count(TrialState.RUNNING) <= 2
    put_back = [t for t in study.trials if t.user_attrs.get("status") == "not started"]
    assert put_back and all(t.state == TrialState.FAIL and t not in finished_trials(study) for t in put_back)
    queued = [t for t in study.trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs["requeued_from"] for t in queued) == sorted(t.number for t in put_back)


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


def test_the_line_lists_each_share_where_families_differ(monkeypatch):
    monkeypatch.setitem(GPU_SHARE, "fused-rnn", 0.25)
    line = trial_resources(AUTO, 1, 1).describe(AUTO, 1, "on")
    assert line == "gpus: auto → 1 GPU(s), 1/8 per Triton or other trial, 1/4 per cuDNN trial, MPS on"
