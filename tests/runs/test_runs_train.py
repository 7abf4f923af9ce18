"""runs.train: it learns, it reports, it stops, it diverges cleanly, it writes what it promises."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cells
import runs
from runs import RunConfig, TaskConfig, TrainConfig


def config(core="lstm", dynamics="momentum", task=None, hidden_size=16, cell=None, **train) -> RunConfig:
    task = task or {"name": "adding", "T": 20, "n_train": 256, "n_val": 64, "n_test": 64}
    train = {"epochs": 1, "batch_size": 32, "device": "cpu", **train}
    return runs.build_run_config(cell={"core": core, "dynamics": dynamics, "hidden_size": hidden_size, **(cell or {})},
                                 task=task, train=train)


@pytest.mark.slow
def test_momentum_lstm_learns_adding_far_below_the_baseline():
    """T = 50: the always-1 answer scores 0.167; a momentum LSTM gets well under it in 12 epochs."""
    from cells.fast.auto import FastCell

    cfg = config(task={"name": "adding", "T": 50, "n_train": 5000, "n_val": 500, "n_test": 500},
                 hidden_size=64, cell={"mu": 0.6, "s": 0.6}, epochs=12, batch_size=50, lr=1e-2, clip=1.0)
    result = runs.train(cfg)
    assert result.status == "completed"
    # What keeps it to seconds: the fast cell trains it (not the step-by-step reference), for the
    # 12 epochs asked and no step more.
    assert isinstance(result.model.cell, FastCell)
    steps_per_epoch = result.curves["step"][0]
    assert result.curves["epoch"] == [float(e) for e in range(1, 13)] and result.steps == 12 * steps_per_epoch
    assert result.validation["mse"] < 0.02 and result.test["mse"] < 0.02, result.to_dict()
    assert result.baseline == pytest.approx(1 / 6)
    # Learning the task is when the gradient starts reaching the first steps.
    assert result.curves["grad_ratio_log10"][0] < result.stability["grad_ratio_log10"]


def test_result_shape_matches_metrics_json_contract():
    reports = []
    result = runs.train(config(epochs=2), report=reports.append)
    d = result.to_dict()
    assert list(d) == ["status", "task", "metric", "direction", "validation", "test", "baseline", "stability",
                       "epochs", "steps", "seconds", "compile_seconds", "startup_seconds", "environment"]
    assert (d["status"], d["task"], d["metric"], d["direction"]) == ("completed", "adding", "mse", "minimize")
    assert set(d["validation"]) == set(d["test"]) == {"mse", "loss"}
    assert set(d["stability"]) == {"grad_ratio_log10", "instability", "grad_norm_max", "loss_spikes", "diverged"}
    env = d["environment"]
    assert (env["torch"], env["device"], env["threads"]) == (torch.__version__, "cpu", torch.get_num_threads())
    assert {"numpy", "python", "device_name", "deterministic_algorithms", "cudnn_deterministic",
            "float32_matmul_precision"} <= set(env)
    assert d["stability"]["instability"] == abs(d["stability"]["grad_ratio_log10"])
    assert d["epochs"] == 2 and d["steps"] == 16
    json.dumps(d, allow_nan=False)  # plain JSON
    assert [r["step"] for r in reports] == [8, 16] and reports[-1]["val_mse"] == result.value
    # The time to the first step (task, model, one step) is known from the first report on.
    assert d["startup_seconds"] > 0 and [r["startup_seconds"] for r in reports] == [d["startup_seconds"]] * 2
    assert len(result.grad_profile) == 20 and len(result.curves["val_mse"]) == 2
    ts, values = result.profile(max_points=5)
    assert ts[0] == 1 and ts[-1] == 20 and len(ts) == 5 and values[-1] == result.grad_profile[-1]


def test_training_is_deterministic_for_a_seed():
    a, b = runs.train(config(seed=3)), runs.train(config(seed=3))
    assert a.validation == b.validation and a.grad_profile == b.grad_profile
    c = runs.train(config(seed=4))
    assert c.validation != a.validation


def test_evaluation_passes_take_four_training_batches_and_their_size_does_not_change_the_numbers(monkeypatch):
    """Validation and test run forward-only in passes of `eval_batch_size` sequences (default 4
    training batches); how a split is cut into passes leaves its mean metric as it is."""
    cfg = config(core="orthogonal", epochs=2)  # a parametrized weight: mapped once per split
    assert cfg.train.eval_rows == 128
    passes: list[int] = []
    model_forward = runs.SequenceModel.forward

    def counted(model, x):
        if not torch.is_grad_enabled():  # the evaluation passes (the probe and the training steps need gradients)
            passes.append(len(x))
        return model_forward(model, x)

    monkeypatch.setattr(runs.SequenceModel, "forward", counted)
    default = runs.train(cfg)
    monkeypatch.undo()
    assert passes == [64] * 3  # 64 validation sequences after each of 2 epochs, then 64 test sequences: one pass each
    small = runs.train(config(core="orthogonal", epochs=2, eval_batch_size=5))
    assert small.validation == pytest.approx(default.validation, rel=1e-5) and small.test == pytest.approx(default.test, rel=1e-5)
    assert small.grad_profile == default.grad_profile  # the training itself is the same
    with pytest.raises(ValueError, match="`eval_batch_size` must be a positive integer"):
        TrainConfig(eval_batch_size=0)


def test_the_hook_can_stop_the_run():
    seen = []
    result = runs.train(config(epochs=5, eval_every=3), report=lambda m: seen.append(m["step"]) or m["step"] >= 6)
    assert result.status == "stopped" and result.steps == 6 and seen == [3, 6]
    assert result.test is not None and result.model is not None


def test_steps_replace_epochs_and_schedules_move_the_lr():
    result = runs.train(config(steps=10, eval_every=5, schedule="step", decay_at=0.5, lr=1e-2))
    assert result.steps == 10 and result.curves["step"] == [5, 10]
    assert result.curves["lr"] == pytest.approx([1e-2, 1e-3])


def test_a_diverging_run_ends_as_diverged_without_an_exception(tmp_path):
    # A plain RNN driven by SGD with an absurd learning rate: the weights blow up in a few steps.
    cfg = config(core="rnn", dynamics="plain", optimizer="sgd", lr=1e12, epochs=3)
    result = runs.train(cfg, out_dir=tmp_path)
    assert result.status == "diverged" and result.stability["diverged"] is True
    assert result.validation is None and result.test is None and result.model is None and result.value is None
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["validation"] is None
    assert not (tmp_path / "checkpoint.pt").exists()  # no broken weights written as if fine


def test_copying_reads_every_step_and_digits_classifies():
    copy = runs.train(config(core="gru", task={"name": "copying", "T": 5, "n_train": 64, "n_val": 16, "n_test": 16}))
    assert copy.metric == "cross_entropy" and copy.model.readout_mode == "all"
    assert copy.baseline == pytest.approx(10 * math.log(8) / 25)
    digits = runs.train(config(task={"name": "digits"}, hidden_size=32, epochs=4, lr=2e-2))
    assert digits.metric == "accuracy" and digits.direction == "maximize"
    assert digits.validation["accuracy"] > 4 * digits.baseline  # far better than guessing after 4 short epochs


def test_outputs_rebuild_with_cells_load_and_runs_load(tmp_path):
    result = runs.train(config(epochs=1), out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "curves.json", "metrics.json", "run.json"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(result.to_dict()))
    assert RunConfig.from_file(tmp_path / "run.json") == result.config
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert curves["grad_profile"] == result.grad_profile

    x = runs.load_task(result.config.task).test.x[:8]
    model = runs.load(tmp_path / "checkpoint.pt")
    assert model.run_config == result.config and "task='adding'" in repr(model)
    with torch.no_grad():
        assert torch.equal(model(x), result.model(x))
        cell = cells.load(tmp_path / "checkpoint.pt")  # the reference implementation of the same weights
        assert torch.allclose(cell(x)[0], result.model.cell(x)[0], atol=1e-5)


def test_cell_input_size_must_fit_the_task():
    cfg = RunConfig(cell=cells.CellConfig(core="lstm", input_size=3, hidden_size=8), task=TaskConfig(name="digits"),
                    train=TrainConfig(device="cpu"))
    with pytest.raises(ValueError, match="set the cell's input_size to 1"):
        runs.train(cfg)


def test_orthogonal_learning_rate_reaches_its_group():
    cfg = config(core="orthogonal", dynamics="momentum", lr=1e-3, orthogonal_lr=1e-4,
                 task={"name": "digits", "n_train": 64})
    result = runs.train(cfg, report=lambda m: None)
    assert result.status == "completed"
    groups = cells.parameter_groups(result.model.cell)
    assert groups["orthogonal"], "the orthogonal core has parameters on the manifold"


@pytest.mark.slow
def test_compiled_training_matches_eager_and_records_its_compile_time():
    torch._dynamo.reset()
    eager = runs.train(config(steps=3))
    compiled = runs.train(config(steps=3, compile="on"))
    assert eager.compile_seconds is None and compiled.compile_seconds > 0
    assert compiled.to_dict()["compile_seconds"] == compiled.compile_seconds
    assert compiled.value == pytest.approx(eager.value, rel=1e-4)  # the same training, step for step
    for name, p in compiled.model.state_dict().items():
        torch.testing.assert_close(p, eager.model.state_dict()[name], rtol=1e-4, atol=1e-6)


def test_unknown_compile_choice_is_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown compile 'yes'; choose one of off, on, auto"):
        TrainConfig(compile="yes")


def test_graph_choices_are_checked_in_one_line():
    with pytest.raises(ValueError, match="unknown graph 'yes'; choose one of off, on, auto"):
        TrainConfig(graph="yes")
    with pytest.raises(ValueError, match="graph='on' and compile='on' .* choose one"):
        TrainConfig(graph="on", compile="on")
    assert TrainConfig().graph == "off"


def test_graph_auto_graphs_on_the_gpu_only_the_measured_families():
    from runs._graph import PAYS_ON_GPU, use_graph

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert use_graph("auto", "momentum-orthogonal", cuda, compile="auto") and "momentum-orthogonal" in PAYS_ON_GPU
    assert not use_graph("auto", "momentum-orthogonal", cpu, compile="auto")              # CUDA graphs: the GPU only
    assert not use_graph("auto", "momentum-enrnn", cuda, compile="auto")                  # its forward waits for the host
    assert not use_graph("auto", "momentum-gru", cuda, compile="auto")                    # not measured: eager
    assert not use_graph("auto", "momentum-orthogonal", cuda, compile="on")                # an explicit compile outranks auto
    assert use_graph("on", "momentum-gru", cuda, compile="auto")
    assert not use_graph("off", "momentum-orthogonal", cuda, compile="auto")
    with pytest.raises(ValueError, match="graph='on' needs a CUDA device, and this run trains on cpu"):
        use_graph("on", "momentum-lstm", cpu, compile="auto")
    with pytest.raises(ValueError, match="cannot capture momentum-enrnn: its forward waits for the host"):
        use_graph("on", "momentum-enrnn", cuda, compile="auto")


def test_graph_on_for_a_cpu_run_is_refused_before_training():
    with pytest.raises(ValueError, match="graph='on' needs a CUDA device"):
        runs.train(config(steps=1, graph="on"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("core", ["orthogonal", "unitary", "lstm"])
def test_graphed_training_is_the_eager_training(core):
    """Full batches replay the captured forward and backward, the epoch's last smaller batch
    runs eager: the same losses, weights and validation as without graphs."""
    task = {"name": "adding", "T": 40, "n_train": 300, "n_val": 64, "n_test": 64}  # 300 = 2 x 128 + 44
    eager = runs.train(config(core, task=task, hidden_size=32, epochs=2, batch_size=128, device="cuda"))
    graphed = runs.train(config(core, task=task, hidden_size=32, epochs=2, batch_size=128, device="cuda", graph="on"))
    assert graphed.status == eager.status == "completed"
    np.testing.assert_allclose(graphed.curves["train_loss"], eager.curves["train_loss"], rtol=1e-5)
    assert graphed.value == pytest.approx(eager.value, rel=1e-5)
    # the probe, captured at the first evaluation and replayed at each, measures what eager does
    np.testing.assert_allclose(graphed.curves["grad_ratio_log10"], eager.curves["grad_ratio_log10"], rtol=1e-4)
    np.testing.assert_allclose(graphed.curves["grad_profile"], eager.curves["grad_profile"], rtol=1e-4)
    for name, p in graphed.model.state_dict().items():
        torch.testing.assert_close(p, eager.model.state_dict()[name], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("core", ["rnn", "lstm", "gru", "orthogonal", "unitary", "urnn", "cornn", "unicornn"])
def test_the_graphed_probe_is_the_probe(core):
    """Every core whose training may be graphed has a reference recurrence that captures: the
    replayed probe gives the eager norms, and follows the weights when they change in place."""
    from runs._graph import graphed_call
    from runs._stability import hidden_gradient_norms

    torch.manual_seed(0)
    model = runs.build_model(cells.CellConfig(core=core, input_size=1, hidden_size=16), 10, "last").cuda()
    x, y = torch.rand(8, 30, 1, device="cuda"), torch.randint(0, 10, (8,), device="cuda")
    probe = lambda: hidden_gradient_norms(model.cell, model.head, F.cross_entropy, x, y)[1]  # noqa: E731
    replay = graphed_call(probe, torch.device("cuda"))
    for _ in range(2):
        torch.testing.assert_close(replay().clone(), probe(), rtol=1e-5, atol=0)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.1)


def test_compile_auto_compiles_on_the_gpu_only_the_measured_families_and_only_past_their_break_even():
    from runs._compile import PAYS_ON_GPU, use_compile

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert TrainConfig().compile == "auto"
    family, steps = "momentum-unicornn", PAYS_ON_GPU["momentum-unicornn"]
    assert use_compile("auto", family, cuda, steps) and not use_compile("auto", family, cuda, steps - 1)
    assert not use_compile("auto", family, cpu, 10**9)                 # never on the CPU
    assert not use_compile("auto", "momentum-lstm", cuda, 10**9)       # cuDNN families: the graph break costs more
    assert use_compile("on", "momentum-lstm", cpu, 1) and not use_compile("off", family, cuda, 10**9)
