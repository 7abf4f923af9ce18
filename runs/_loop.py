"""One training run: `train(config, report=...)` -> RunResult.

The loop knows nothing of Optuna or Ray: a search passes `report`, called after every
evaluation with the metrics so far; returning True stops the run (status "stopped").
A loss or gradient norm that turns NaN/inf ends the run as "diverged": no exception, no
checkpoint, and no validation or test numbers measured on the broken weights.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

import cells
from runs._compile import training_forward
from runs._config import RunConfig
from runs._environment import environment, resolve_device, torch_threads
from runs._graph import graphed_call, graphed_forward, use_graph
from runs._model import SequenceModel, build_model
from runs._optim import OPTIMIZERS, SCHEDULES
from runs._progress import ProgressBar
from runs._result import RunResult, write_outputs
from runs._stability import SpikeCounter, grad_ratio_log10, hidden_gradient_norms
from runs._tasks import KINDS, Split, Task, load_task

# ---------------------------------------------------------------------------- losses

def _sequence_loss(pred, y):
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), y.reshape(-1))


# task kind -> loss(predictions, targets) and the batch's metric (a mean, like the loss)
LOSSES: dict[str, Callable] = {
    "classification": F.cross_entropy,
    "regression": lambda pred, y: F.mse_loss(pred.squeeze(-1), y),
    "sequence": _sequence_loss,
}
METRICS: dict[str, Callable] = {
    "classification": lambda pred, y, loss: (pred.argmax(-1) == y).double().mean(),
    "regression": lambda pred, y, loss: loss,
    "sequence": lambda pred, y, loss: loss,
}

PROBE_SIZE = 64  # validation examples in the fixed stability probe batch


# ---------------------------------------------------------------------------- loop


@torch.no_grad()
def evaluate(model: SequenceModel, split: Split, kind: str, batch_size: int, device: torch.device) -> dict[str, float]:
    """{metric: mean metric, "loss": mean loss} over a whole split, `batch_size` sequences a pass."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss, metric: summed on the device, read once
    with parametrize.cached():  # constrained weights (orthogonal, unitary) mapped once per split, not per batch
        for start in range(0, len(split), batch_size):
            x = split.x[start : start + batch_size].to(device, non_blocking=True)
            y = split.y[start : start + batch_size].to(device, non_blocking=True)
            pred = model(x)
            loss = LOSSES[kind](pred, y)
            sums += torch.stack([loss.double(), METRICS[kind](pred, y, loss).double()]) * len(x)
    loss_sum, metric_sum = sums.tolist()
    model.train(was_training)
    return {KINDS[kind]["metric"]: metric_sum / len(split), "loss": loss_sum / len(split)}


def train(
    config: RunConfig,
    *,
    report: Callable[[dict[str, Any]], bool | None] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    task: Task | None = None,
) -> RunResult:
    """Train `config.cell` on `config.task` as `config.train` says; measure accuracy and stability.

    report:   called after every evaluation with a flat dict (epoch, step, seconds, train_loss,
              val_<name> for each validation number, grad_ratio_log10, instability,
              grad_norm_max, loss_spikes, lr, startup_seconds); returning True stops the run.
    out_dir:  where to write run.json, metrics.json, curves.json and (unless diverged)
              checkpoint.pt; each file appears complete or not at all.
    progress: show a rich progress bar on stderr.
    task:     an already loaded task for `config.task` (saves reading it twice).

    Seeds torch's global generator with `config.train.seed` (the cell's initialisation), and
    runs with `config.train.threads` torch threads (restored after); the result records the
    environment that changes its numbers (`runs._environment`).
    """
    called = time.perf_counter()  # startup_seconds counts from here: loading, building, the first step
    if task is None:
        task = load_task(config.task)
    elif task.config != config.task:
        raise ValueError("train: the task passed does not match config.task")
    if config.cell.input_size != task.input_size:
        raise ValueError(
            f"cell input_size is {config.cell.input_size} but task {task.name!r} feeds {task.input_size} "
            f"feature(s) per step; set the cell's input_size to {task.input_size}"
        )
    with torch_threads(config.train.threads):
        result = _Run(config, task, report, progress, called).run()
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result


class _Run:
    """The state of one training run: model, optimizer, counters, curves."""

    def __init__(self, config: RunConfig, task: Task, report, progress: bool, called: float):
        tc = config.train
        self.called = called  # perf_counter() when train() was called
        self.config, self.task, self.tc, self.report = config, task, tc, report
        self.device = resolve_device(tc.device)
        torch.manual_seed(tc.seed)
        self.model = build_model(config.cell, task.output_size, task.readout, tc.impl, run_config=config).to(self.device)
        self.environment = environment(self.device)
        self.steps_per_epoch = math.ceil(len(task.train) / tc.batch_size)
        self.total_steps = tc.steps if tc.steps is not None else tc.epochs * self.steps_per_epoch
        graph = use_graph(tc.graph, config.cell.family, self.device, compile=tc.compile)
        # graphs replace compilation: both would remove the host's launches, and compiled code
        # would be captured only through its own cudagraph trees
        self.forward = self.model if graph else training_forward(self.model, tc.compile, self.device, self.total_steps)
        self.compile_seconds: float | None = None
        self.startup_seconds: float | None = None
        self.optimizer, self.params = self._optimizer()

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, SCHEDULES[tc.schedule](self.total_steps, tc.decay_at))

        self.train_x, self.train_y = task.train.x.to(self.device), task.train.y.to(self.device)
        # full batches replay the graphs; a smaller last batch of an epoch runs eager
        sample = self.train_x[: tc.batch_size]
        self.graphed = graphed_forward(self.model, sample) if graph else None
        self.graph_rows = len(sample)
        self.probe_replay: Callable[[], torch.Tensor] | None = None  # the probe's graph (graphed runs)
        self.val = Split(task.val.x.to(self.device), task.val.y.to(self.device))  # read at every evaluation: copied once
        self.probe_x, self.probe_y = self.val.x[:PROBE_SIZE], self.val.y[:PROBE_SIZE]
        self.order = torch.Generator().manual_seed(tc.seed)
        self.loss_fn = LOSSES[task.kind]

        self.status = "completed"
        self.step = 0
        self.validation: dict[str, float] | None = None
        self.profile: np.ndarray | None = None
        self.ratio: float | None = None
        self.grad_norm_max = 0.0
        self.spikes = SpikeCounter()
        self.window: list[float] = []  # training losses since the last evaluation
        self.last_lr = tc.lr
        self.curves: dict[str, list] = {k: [] for k in ("step", "epoch", "seconds", "lr", "train_loss", "grad_ratio_log10")}
        self.bar = ProgressBar(self.total_steps, task.metric, enabled=progress)
        self.start = time.perf_counter()

    def _optimizer(self):
        """One group for the orthogonal parameters (their own lr), one for all the rest."""
        tc = self.tc
        orthogonal = list(cells.parameter_groups(self.model.cell).get("orthogonal", []))
        ortho_ids = {id(p) for p in orthogonal}
        groups = [{"params": [p for p in self.model.parameters() if id(p) not in ortho_ids], "lr": tc.lr}]
        if orthogonal:
            groups.append({"params": orthogonal, "lr": tc.orthogonal_lr or tc.lr})
        optimizer = OPTIMIZERS[tc.optimizer](groups, tc.lr, tc.weight_decay)
        return optimizer, [p for group in groups for p in group["params"]]

    def run(self) -> RunResult:
        self.model.train()
        with self.bar:
            while not self._epoch():
                pass
        return self._result()

    def _epoch(self) -> bool:
        """One pass over the shuffled training data; True when the run is over."""
        n, batch = len(self.task.train), self.tc.batch_size
        order = torch.randperm(n, generator=self.order).to(self.device)
        for begin in range(0, n, batch):
            if not self._step(order[begin : begin + batch]):
                self.status = "diverged"
                return True
            at_epoch_end = begin + batch >= n
            due = self.step % self.tc.eval_every == 0 if self.tc.eval_every else at_epoch_end
            if (due or self.step == self.total_steps) and self._evaluate():
                return True
            if self.step >= self.total_steps:
                return True
        return False

    def _step(self, index: torch.Tensor) -> bool:
        """One optimizer step on a batch; False when the loss or the gradient is not finite."""
        self.optimizer.zero_grad(set_to_none=True)
        first = self.step == 0 and self.forward is not self.model
        started = time.perf_counter()
        forward = self.graphed if self.graphed is not None and len(index) == self.graph_rows else self.forward
        loss = self.loss_fn(forward(self.train_x[index]), self.train_y[index])
        loss.backward()
        # The norm before clipping: what the gradients did, not what the clip allowed.
        clip = self.tc.clip if self.tc.clip is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
        # One read from the device per step, loss and norm together (each read waits for the GPU).
        value, norm = torch.stack([loss.detach().float(), norm.float()]).tolist()
        if first:  # the read above waited for the device: compilation and one step
            self.compile_seconds = round(time.perf_counter() - started, 3)
        if self.startup_seconds is None:
            self.startup_seconds = round(time.perf_counter() - self.called, 3)
        if not (math.isfinite(value) and math.isfinite(norm)):
            return False  # before optimizer.step: the weights stay as they were
        self.grad_norm_max = max(self.grad_norm_max, norm)
        self.last_lr = self.optimizer.param_groups[0]["lr"]  # the lr this step used
        self.optimizer.step()
        cells.after_optimizer_step(self.model.cell)
        self.scheduler.step()
        self.step += 1
        self.spikes.add(value)
        self.window.append(value)
        self.bar.step(value)
        return True

    def _evaluate(self) -> bool:
        """Measure, record, report; True when the run must end (diverged or stopped)."""
        task = self.task
        val = evaluate(self.model, self.val, task.kind, self.tc.eval_rows, self.device)
        if not all(math.isfinite(v) for v in val.values()):
            self.status = "diverged"
            return True
        norms = self._probe()
        if np.isfinite(norms).all():
            self.profile, self.ratio = norms, grad_ratio_log10(norms)
        self.validation = val
        point = {
            "step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
            "seconds": round(time.perf_counter() - self.start, 3), "lr": self.last_lr,
            "train_loss": sum(self.window) / len(self.window) if self.window else None,
            "grad_ratio_log10": self.ratio,
        }
        for key, value in point.items():
            self.curves[key].append(value)
        for key, value in val.items():
            self.curves.setdefault(f"val_{key}", []).append(value)
        self.window = []
        self.bar.evaluated(val[task.metric])
        snapshot = {**point, **{f"val_{k}": v for k, v in val.items()},
                    "instability": None if self.ratio is None else abs(self.ratio),
                    "grad_norm_max": self.grad_norm_max, "loss_spikes": self.spikes.count,
                    "startup_seconds": self.startup_seconds}
        if self.report is not None and self.report(snapshot):
            self.status = "stopped"
            return True
        return False

    def _probe(self) -> np.ndarray:
        """‖∂L/∂h_t‖ on the probe batch, on the trained module itself (its reference recurrence,
        `cells.hidden_states`); the training's gradients are left alone. A run that graphs its
        training replays the probe as a graph too, captured here the first time."""
        def norms() -> torch.Tensor:
            return hidden_gradient_norms(self.model.cell, self.model.head, self.loss_fn, self.probe_x, self.probe_y)[1]

        if self.graphed is None:
            return norms().cpu().numpy()
        if self.probe_replay is None:
            self.probe_replay = graphed_call(norms, self.device)
        return self.probe_replay().cpu().numpy()

    def _result(self) -> RunResult:
        task, diverged = self.task, self.status == "diverged"
        test = None if diverged else evaluate(self.model, task.test, task.kind, self.tc.eval_rows, self.device)
        if test is not None and not all(math.isfinite(v) for v in test.values()):
            diverged, test = True, None
            self.status = "diverged"
        if not diverged and self.profile is not None:
            self.curves["grad_profile"] = self.profile.tolist()
        return RunResult(
            status=self.status, task=task.name, metric=task.metric, direction=task.direction,
            validation=None if diverged else self.validation, test=test, baseline=task.baseline,
            stability={
                "grad_ratio_log10": self.ratio,
                "instability": None if self.ratio is None else abs(self.ratio),
                "grad_norm_max": self.grad_norm_max,
                "loss_spikes": self.spikes.count,
                "diverged": diverged,
            },
            epochs=_epochs(self.step, self.steps_per_epoch), steps=self.step,
            seconds=round(time.perf_counter() - self.start, 3), compile_seconds=self.compile_seconds,
            startup_seconds=self.startup_seconds, curves=self.curves,
            grad_profile=None if diverged or self.profile is None else self.profile.tolist(),
            model=None if diverged else self.model, config=self.config, environment=self.environment,
        )


def _epochs(step: int, steps_per_epoch: int) -> float | int:
    epochs = round(step / steps_per_epoch, 3)
    return int(epochs) if epochs == int(epochs) else epochs

