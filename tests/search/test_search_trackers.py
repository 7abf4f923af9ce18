"""`--log-to tensorboard|mlflow|wandb`: a real tiny search (and its confirmation) read back from
TensorBoard's event files, MLflow's store and W&B's offline runs; bad trackers refused in one line."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from search import SearchConfig, TrialRecord, _record, _trackers, run_search
from search.cli import app
from tests_search_helpers import TINY, Recorder, tiny

FLAGS = ["--task", "adding", "--T", "20", "--n-train", "64", "--n-val", "32", "--n-test", "32",
         "--space", TINY["space"], "--trials", "1", "--epochs", "1", "--hidden", "8"]


def _refused(out: Path, *args: str, env: dict | None = None) -> str:
    result = CliRunner().invoke(app, ["search", *FLAGS, *args, "--out", str(out)], env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert not out.exists()  # no storage, no study, no tracker's folder, no Ray folder
    return " ".join(result.output.split())


def test_log_to_is_a_repeatable_flag_and_a_yaml_list(tmp_path):
    file = tmp_path / "search.yaml"
    file.write_text("log_to: [tensorboard, mlflow]\n")
    from_file = SearchConfig.resolve(file=file, flags={"log_to": ()})  # the flag not given: Click's ()
    assert from_file.store.log_to == ("tensorboard", "mlflow")
    assert SearchConfig.resolve(file=file, flags={"log_to": ["wandb", "wandb"]}).store.log_to == ("wandb",)
    assert SearchConfig.from_flat(from_file.to_flat()) == from_file  # what the study stores reads back
    assert from_file.to_yaml().splitlines()[-3:] == ["log_to:", "- tensorboard", "- mlflow"]
    # Through the command line, each --log-to reaches the config: the second one is the one refused.
    assert "unknown tracker 'neptune'" in _refused(tmp_path / "out", "--log-to", "tensorboard", "--log-to", "neptune")


def test_an_unknown_tracker_is_refused_in_one_line(tmp_path):
    message = _refused(tmp_path / "out", "--log-to", "tensorbord")
    assert "unknown tracker 'tensorbord' for --log-to; choose among tensorboard, mlflow, wandb" in message


@pytest.mark.parametrize("tracker, module, pip", [
    ("tensorboard", "tensorboardX", "tensorboardX"), ("mlflow", "mlflow", "mlflow-skinny"), ("wandb", "wandb", "wandb")])
def test_a_tracker_whose_package_is_missing_is_refused_in_one_line(tmp_path, monkeypatch, tracker, module, pip):
    monkeypatch.setitem(sys.modules, module, None)  # Python's own way to make a module unimportable
    message = _refused(tmp_path / "out", "--log-to", tracker)
    assert f"--log-to {tracker} needs the {module} package: pip install {pip}" in message


def test_wandb_without_an_api_key_is_refused_before_the_study(tmp_path):
    env = {"WANDB_MODE": None, "WANDB_API_KEY": None, "NETRC": str(tmp_path / "no-netrc"),
           "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}
    message = _refused(tmp_path / "out", "--log-to", "wandb", env=env)
    assert "no W&B API key" in message and "WANDB_MODE=offline" in message


# ------------------------------------------------------------------ a real search, read back


@pytest.fixture(scope="module")
def tracked(ray_session, tmp_path_factory):
    """Two trials of two epochs and a confirmation of the best (one seed), into all three
    trackers; W&B offline into its own WANDB_DIR; the storage at a path no tracker may name."""
    tmp = tmp_path_factory.mktemp("trackers")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_DIR", str(tmp / "wandb-dir"))
        env.setenv("MLFLOW_TRACKING_URI", "")  # not the user's; restored (unset) after, whatever MLflow sets
        heard = Recorder()
        config = tiny(trials=2, epochs=2, early_stop="none", confirm=1, confirm_seeds=1, out=str(tmp / "out"),
                      study="tracked", storage=f"sqlite:///{tmp / 'elsewhere' / 'study.db'}",
                      log_to=["tensorboard", "mlflow", "wandb"])
        outcome = run_search(config, listener=heard)
        # MLflow copies the URI it was given into MLFLOW_TRACKING_URI: the next study still gets its own store.
        next_study = _trackers.where(("mlflow",), tmp / "out" / "next", "next")
    assert next_study == f"trackers: mlflow sqlite:///{(tmp / 'out' / 'next' / 'mlflow.db').resolve()}, experiment next"
    records = {r.number: r for r in _record.trials(outcome.study)}
    assert [r.status for r in records.values()] == ["completed", "completed"], records
    return outcome, records, heard, tmp


def _names(records) -> dict[str, TrialRecord]:
    """Each trial's run name (search._ray.trial_name)."""
    return {f"{r.number:05d}-{r.family}": r for r in records.values()}


def _confirmed(outcome) -> str:
    return f"trial-{outcome.confirmed.cells[0].trial:05d}-seed-{outcome.confirmed.cells[0].seeds[0]}"


def _curve(record: TrialRecord, key: str) -> list[tuple[int, float]]:
    """The study's learning curve of one objective, as (epoch, value)."""
    return [(int(p["epoch"]), p[key]) for p in record.curve]


@pytest.mark.slow
def test_tensorboard_event_files_hold_each_trial_s_curves(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    outcome, records, _, tmp = tracked
    logdir = tmp / "out" / "tracked" / "tensorboard"
    assert sorted(p.name for p in logdir.iterdir()) == sorted([*_names(records), _confirmed(outcome)])
    for name, record in _names(records).items():
        events = EventAccumulator(str(logdir / name))
        events.Reload()
        for tag, key in (("ray/tune/val_mse", "metric"), ("ray/tune/instability", "instability")):
            steps = [(e.step, e.value) for e in events.Scalars(tag)]
            assert [s for s, _ in steps] == [1, 2]  # one point an epoch: the closing report is none
            assert [v for _, v in steps] == pytest.approx([v for _, v in _curve(record, key)], rel=1e-6)  # float32
        assert [e.value for e in events.Scalars("ray/tune/epoch")] == [1.0, 2.0]
        assert not [tag for tag in events.Tags()["scalars"] if "momnas_" in tag or tag.endswith("/done")]


@pytest.mark.slow
def test_mlflow_store_holds_a_run_per_trial_with_both_objectives_by_epoch(tracked):
    from mlflow.tracking import MlflowClient

    outcome, records, _, tmp = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'out' / 'tracked' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == sorted([*_names(records), _confirmed(outcome)])
    for name, record in _names(records).items():
        run = runs[name]
        assert run.info.status == "FINISHED" and run.data.tags["momnas.study"] == "tracked"
        assert run.data.params["momnas_family"] == record.family
        assert run.data.params["momnas_run/train/lr"] == str(record.run_config["train"]["lr"])
        for metric, key in (("val_mse", "metric"), ("instability", "instability")):
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric))
            assert history == _curve(record, key)
        assert not [k for k in run.data.metrics if k.startswith(("momnas_", "config"))]
    confirmation = runs[_confirmed(outcome)]
    assert [m.step for m in client.get_metric_history(confirmation.info.run_id, "val_mse")] == [1, 2]
    # The trial configs logged hold the run config, never the storage URL.
    logged = json.dumps([run.data.params for run in runs.values()])
    assert "study.db" not in logged and "elsewhere" not in logged


def _wandb_records(path: Path):
    """The records of a W&B run file (.wandb): LevelDB's log format (32 KiB blocks of chunks, each
    with a 7-byte header: checksum, length, type) after W&B's 7-byte header, each record one
    protobuf `Record` of the installed wandb."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, pending = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # too little of the block left for a header: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


@pytest.mark.slow
def test_wandb_offline_runs_hold_each_trial_s_history(tracked):
    outcome, records, _, tmp = tracked
    runs = {}
    for path in (tmp / "wandb-dir" / "wandb").glob("offline-run-*/run-*.wandb"):
        found = list(_wandb_records(path))
        run = next(r.run for r in found if r.WhichOneof("record_type") == "run")
        history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item} for r in found
                   if r.WhichOneof("record_type") == "history"]
        runs[run.display_name] = (run, history, path.read_bytes())
    assert sorted(runs) == sorted([*_names(records), _confirmed(outcome)])
    for name, record in _names(records).items():
        run, history, raw = runs[name]
        assert run.project == "tracked" and run.run_group == "tracked"
        assert [(h["_step"], h["val_mse"]) for h in history] == _curve(record, "metric")
        assert [(h["_step"], h["instability"]) for h in history] == _curve(record, "instability")
        assert [h["epoch"] for h in history] == [1, 2]
        assert b"study.db" not in raw and b"elsewhere" not in raw
    assert runs[_confirmed(outcome)][0].run_group == "tracked-confirm"


@pytest.mark.slow
def test_the_search_says_where_each_tracker_wrote(tracked):
    _, _, heard, tmp = tracked
    folder = (tmp / "out" / "tracked").resolve()
    assert heard.lines[-1] == (
        f"trackers: tensorboard --logdir {folder / 'tensorboard'}; "
        f"mlflow sqlite:///{folder / 'mlflow.db'}, experiment tracked; "
        f"wandb project tracked, offline in {(tmp / 'wandb-dir' / 'wandb').resolve()} "
        f"(wandb sync {(tmp / 'wandb-dir' / 'wandb').resolve()}/offline-run-* uploads them)")


def test_the_internal_wandb_actor_momnas_subclasses_is_still_there():
    """What search/_trackers.py relies on inside Ray (behind WANDB_ACTOR_TESTED): fails loudly
    when a Ray upgrade moves it, so that the version range is reviewed."""
    import ray
    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    from search._trackers import WANDB_ACTOR_TESTED

    version = tuple(int(p) for p in ray.__version__.split(".")[:2])
    assert WANDB_ACTOR_TESTED[0] <= version < WANDB_ACTOR_TESTED[1]
    assert callable(getattr(_WandbLoggingActor, "run")) and hasattr(WandbLoggerCallback, "_logger_actor_cls")
