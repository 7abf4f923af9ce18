"""Figures of a finished (or running) search: what a user reads after `momnas search`.

One module per figure, as in `optuna.visualization`; each comes in two steps:
`_X_info(study)` gathers plain data (a NamedTuple, what the tests compare), `_X_figure(info)`
draws it with plotly.

- Pareto front (`_pareto_front.py`): validation metric against instability, one point per
  trial, coloured by family; Pareto, dominated, stopped and failed trials drawn apart.
- Hypervolume of the front after each trial (`_hypervolume.py`, Optuna's hypervolume).
- Gradient profiles ‖∂L/∂h_t‖ over t of the Pareto trials, log y (`_grad_profiles.py`).
- Parameter importances per objective, fANOVA (`_importances.py`).
- Where in the (mu, s) plane good cells lie, every family in one plane (`_momentum.py`).
- Learning curves: each trial's metric and instability after every evaluation, trials that
  early stopping ended apart (`_learning_curves.py`).
- Rung-to-target rank correlation: each rung's metric against the target's, Spearman's rho per
  rung, over the trials that reached the target (`_fidelity.py`).
- The confirmation: each confirmed cell's objectives over its fresh seeds, mean ± std and a dot
  per seed, the best prior marked (`_confirmation.py`).
- One run's learning curves (`_run_curves.py`, for `momnas train`).

What they read from a study, and each family's colour (the same in every figure and study),
comes from `_study_data.py`, which reads trials through `search._record`.

`write_plots(study, out_dir)` (`_writer.py`) writes the study figures as standalone HTML and
attaches them to the study, so that optuna-dashboard shows them too. A new figure is a new
module with its `_info` / `_figure` pair and `plot_` function, plus one entry in the writer's table.
"""

from search.plots._confirmation import plot_confirmation
from search.plots._fidelity import plot_fidelity
from search.plots._grad_profiles import plot_grad_profiles
from search.plots._hypervolume import plot_hypervolume
from search.plots._importances import plot_importances
from search.plots._learning_curves import plot_learning_curves
from search.plots._momentum import plot_momentum
from search.plots._pareto_front import plot_pareto_front
from search.plots._run_curves import plot_run_curves
from search.plots._writer import write_plots

__all__ = [
    "plot_confirmation",
    "plot_fidelity",
    "plot_grad_profiles",
    "plot_hypervolume",
    "plot_importances",
    "plot_learning_curves",
    "plot_momentum",
    "plot_pareto_front",
    "plot_run_curves",
    "write_plots",
]
