"""Each figure's data from a real study with hand-checked values (the data, not the pixels)."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import optuna
import plotly.offline
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

import search
import spaces
from search import plots
from search.plots._axes import decade_axis
from search.plots._grad_profiles import _grad_profile_figure, _grad_profile_info
from search.plots._hypervolume import _hypervolume_figure, _hypervolume_info
from search.plots._importances import MIN_IMPORTANCE_TRIALS, _importance_figure, _importance_info
from search.plots._learning_curves import _curves_figure, _curves_info
from search.plots._momentum import _momentum_figure, _momentum_info
from search.plots._pareto_front import _pareto_figure, _pareto_info
from search.plots._study_data import family_color, family_colors


def test_pareto_info_sorts_trials_into_pareto_dominated_stopped_failed(known_study):
    info = _pareto_info(known_study)
    kinds = {p.number: p.kind for p in info.points}
    assert kinds == {0: "pareto", 1: "pareto", 2: "dominated", 3: "failed", 4: "stopped"}
    assert info.metric_name == "val_acc"
    assert info.directions == ["maximize", "minimize"]
    assert info.front == [1, 0]  # along the metric axis
    assert set(info.colors) == {"momentum-lstm", "plain-lstm", "adam-gru"}

    by = {p.number: p for p in info.points}
    assert (by[0].value, by[0].instability, by[0].at_edge) == (0.9, 0.5, False)
    # The stopped trial is drawn where its metrics.json put it.
    assert (by[4].value, by[4].instability, by[4].at_edge) == (0.5, 0.3, False)
    # The diverged one has no finite value: the worst edge, beyond every real point.
    assert by[3].at_edge
    assert by[3].value < min(p.value for p in info.points if not p.at_edge)
    assert by[3].instability > max(p.instability for p in info.points if not p.at_edge)
    # Hover shows the configuration.
    assert "mu=0.6" in by[0].hover and "core=lstm" in by[0].hover and "momentum-lstm" in by[0].hover
    assert "diverged" in by[3].hover


def test_pareto_figure_draws_every_trial_once_and_the_front(known_study):
    info = _pareto_info(known_study)
    fig = _pareto_figure(info)
    numbers = [n for trace in fig.data if trace.mode == "markers" and trace.customdata is not None for n in trace.customdata]
    assert sorted(numbers) == [0, 1, 2, 3, 4]
    # The legend names each family once and keys the kinds, rather than one entry per (family, kind).
    legend = [t.name for t in sorted(fig.data, key=lambda t: t.legendrank or 1000) if t.showlegend is not False]
    assert legend == ["Pareto", "dominated", "stopped early", "failed", "Pareto front", "adam-gru", "momentum-lstm", "plain-lstm"]
    front = [t for t in fig.data if t.name == "Pareto front"][0]
    assert list(front.x) == [0.8, 0.9]
    # Kinds are told apart by the marker, families by the colour.
    symbols = {t.name: t.marker.symbol for t in fig.data if t.mode == "markers"}
    assert symbols["momentum-lstm (pareto)"] != symbols["momentum-lstm (dominated)"] != symbols["momentum-lstm (failed)"]


def test_pareto_instability_is_on_a_log_scale_where_it_reaches_over_a_decade(tmp_path, make_study, trial_spec):
    # Before: one diverging trial (instability 40) squashed every other point onto the floor of a linear axis.
    study = make_study(tmp_path, [trial_spec("plain-rnn", (0.5, 40.0)), trial_spec("momentum-lstm", (0.9, 0.05)),
                                  trial_spec("momentum-lstm", (0.8, 0.02)), trial_spec("plain-rnn", state="fail")])
    info = _pareto_info(study)
    assert info.log_instability
    failed = next(p for p in info.points if p.kind == "failed")
    assert failed.at_edge and 40.0 < failed.instability < 100.0  # the worst edge, a little beyond in log terms
    axis = _pareto_figure(info).layout.yaxis
    assert axis.type == "log" and axis.range[0] < math.log10(0.02) and axis.range[1] > math.log10(failed.instability)
    assert not _pareto_info(make_study(tmp_path / "flat", [trial_spec("plain-rnn", (0.5, 0.4)), trial_spec("plain-rnn", (0.6, 0.5))])).log_instability


def test_family_colours_are_the_same_everywhere_and_distinct_in_the_full_space(tmp_path, make_study, trial_spec, known_study):
    # Before: colours went by the index in each study's sorted families (the palette repeating after 10),
    # so a family changed colour from study to study and two families could share one.
    families = spaces.get_space("full").families
    colors = [family_color(f) for f in families]
    assert len(set(colors)) == len(families) == 45
    lab = {f: _oklab(c) for f, c in zip(families, colors)}
    closest = min(math.dist(lab[a], lab[b]) for a, b in itertools.combinations(families, 2))
    assert closest > 0.05, closest  # OKLab distance: 0.02 is about the smallest difference one sees
    # The pairs, which shared a colour before.
    assert family_color("rmsprop-rnn") != family_color("nag_restart-cornn")
    other = make_study(tmp_path / "other", [trial_spec("adam-gru", (0.5, 0.5)), trial_spec("plain-rnn", (0.4, 0.4))])
    for study in (known_study, other):
        assert family_colors(study) == {f: family_color(f) for f in family_colors(study)}
    assert family_colors(known_study)["adam-gru"] == family_colors(other)["adam-gru"]
    assert _pareto_info(known_study).colors["momentum-lstm"] == _grad_profile_info(known_study).colors["momentum-lstm"]
    assert family_color("not-a-family") == family_color("unknown") != family_color("plain-rnn")


def _oklab(hex_color: str) -> tuple[float, float, float]:
    """sRGB hex -> OKLab (Björn Ottosson's matrices), to measure how far apart two colours look."""
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    lms = [(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b) ** (1 / 3),
           (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b) ** (1 / 3),
           (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b) ** (1 / 3)]
    l_, m, s_ = lms
    return (0.2104542553 * l_ + 0.7936177850 * m - 0.0040720468 * s_, 1.9779984951 * l_ - 2.4285922050 * m + 0.4505937099 * s_,
            0.0259040371 * l_ + 0.7827717662 * m - 0.8086757660 * s_)


def test_pareto_front_minimised_metric(tmp_path, make_study, trial_spec):
    study = make_study(
        tmp_path,
        [trial_spec("plain-rnn", (0.1, 0.9)), trial_spec("plain-rnn", (0.3, 0.1)), trial_spec("plain-rnn", (0.4, 0.5))],
        metric="mse",
        direction="minimize",
    )
    info = _pareto_info(study)
    assert {p.number: p.kind for p in info.points} == {0: "pareto", 1: "pareto", 2: "dominated"}
    assert info.front == [0, 1]


def test_hypervolume_matches_hand_computed_areas(known_study):
    info = _hypervolume_info(known_study)
    assert info.numbers == [0, 1, 2]  # complete trials only
    # Minimised space: (-0.9, .5), (-0.8, .2), (-0.7, .6); reference = worst + 10% of the range.
    assert info.reference_point == pytest.approx([0.68, 0.64])
    assert info.hypervolumes == pytest.approx([0.22 * 0.14, 0.22 * 0.14 + 0.12 * 0.30, 0.22 * 0.14 + 0.12 * 0.30])
    # Before: "reference point 0.68, 0.64", naming neither objective.
    assert info.objectives == ["val_acc", "instability"]
    assert "reference point val_acc 0.68, instability 0.64" in _hypervolume_figure(info).layout.title.text


def test_hypervolume_axis_starts_at_zero_so_a_flat_series_reads_flat(tmp_path, make_study, trial_spec):
    # Before: plotly gave a flat series the axis -0.5..1.5 around it.
    study = make_study(tmp_path, [trial_spec("plain-rnn", (0.8, 0.2)), trial_spec("plain-rnn", (0.7, 0.3))])
    info = _hypervolume_info(study)
    assert len(set(info.hypervolumes)) == 1 and info.hypervolumes[0] > 0
    low, high = _hypervolume_figure(info).layout.yaxis.range
    assert low == 0.0 and info.hypervolumes[0] < high < 1.2 * info.hypervolumes[0]


def test_grad_profiles_are_those_of_the_pareto_trials(known_study):
    info = _grad_profile_info(known_study)
    assert [c.number for c in info.curves] == [0, 1]
    assert info.curves[0].norms == [1e-3, 1e-2, 1e-1, 1.0]
    assert info.curves[0].t == [0, 1, 2, 3]
    assert info.curves[0].log10_first_over_last == pytest.approx(-3.0)  # vanishing towards t = 0
    fig = _grad_profile_figure(info)
    assert fig.layout.yaxis.type == "log"


def test_grad_profiles_of_one_family_tell_apart_by_dash(tmp_path, make_study, trial_spec):
    # Before: two Pareto trials of momentum-gru were two lines of one green, alike in every way.
    study = make_study(tmp_path, [trial_spec("momentum-lstm", (0.9, 0.5), mu=0.6, s=0.6, profile=[0.3, 0.4, 0.5]),
                                  trial_spec("momentum-lstm", (0.8, 0.2), mu=0.3, s=0.6, profile=[0.2, 0.3, 0.6]),
                                  trial_spec("plain-rnn", (0.95, 0.9), profile=[0.25, 0.3, 0.35])])
    fig = _grad_profile_figure(_grad_profile_info(study))
    lines = {t.name.split(" (")[0]: t.line for t in fig.data}
    same = [lines["trial 0 · momentum-lstm"], lines["trial 1 · momentum-lstm"]]
    assert same[0].color == same[1].color == family_color("momentum-lstm") and same[0].dash != same[1].dash
    assert lines["trial 2 · plain-rnn"].color == family_color("plain-rnn") and lines["trial 2 · plain-rnn"].dash == "solid"


def test_lines_of_one_core_differ_by_dash_as_their_colours_are_alike():
    from search.plots._study_data import line_dashes

    # Families of one core share a hue (momentum-gru and adam-gru, two teal lines before): the dash tells them apart.
    assert line_dashes(["momentum-gru", "adam-gru", "plain-rnn", "momentum-gru", "unknown"]) == ["solid", "dash", "solid", "dashdot", "solid"]


def test_a_log_axis_within_one_decade_is_labelled_inside_the_data():
    # Before: every norm between 0.2 and 0.6 sat on an axis 0.1 .. 1 labelled at those two only.
    axis = decade_axis([0.2, 0.35, 0.6])
    assert axis["type"] == "log" and math.log10(0.15) < axis["range"][0] < math.log10(0.2) and math.log10(0.6) < axis["range"][1] < math.log10(0.8)
    assert axis["tickvals"] == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6]) and axis["ticktext"] == ["0.2", "0.3", "0.4", "0.5", "0.6"]
    assert decade_axis([0.15, 1.6])["ticktext"] == ["0.2", "0.5", "1"]  # 1, 2, 5 where they give three labels
    assert decade_axis([2e-5, 5e-5])["ticktext"] == ["2×10⁻⁵", "3×10⁻⁵", "4×10⁻⁵", "5×10⁻⁵"]
    flat = decade_axis([1.0] * 4)  # a flat profile still gets labels around it
    assert len(flat["tickvals"]) >= 2 and flat["range"][0] < 0 < flat["range"][1]
    wide = decade_axis([1e-3, 1.0])  # over decades: powers of ten, as before
    assert wide["dtick"] == 1 and "tickvals" not in wide and wide["range"][0] < -3 and wide["range"][1] > 0


def test_grad_profiles_name_pareto_trials_without_one(tmp_path, make_study, trial_spec):
    study = make_study(tmp_path, [trial_spec("plain-lstm", (0.8, 0.2))])
    info = _grad_profile_info(study)
    assert info.curves == [] and info.missing == [0]
    assert "no Pareto trial recorded" in _grad_profile_figure(info).layout.title.text


def test_importances_rank_the_parameter_that_matters(tmp_path, make_study, trial_spec):
    rng = random.Random(0)
    specs = []
    for _ in range(24):
        mu, s = rng.random(), rng.random()
        # accuracy follows mu alone; instability follows s alone
        specs.append(trial_spec("momentum-lstm", (0.5 + 0.4 * mu, 0.1 + s), mu=mu, s=s, lr=10 ** rng.uniform(-4, -1)))
    info = _importance_info(make_study(tmp_path, specs))
    assert info.message is None
    assert info.objectives == ["val_acc", "instability"]
    acc, inst = info.importances
    assert next(iter(acc)) == "mu" and acc["mu"] > 0.5
    assert next(iter(inst)) == "s" and inst["s"] > 0.5
    assert sum(acc.values()) == pytest.approx(1.0)
    fig = _importance_figure(info)
    assert len(fig.data) == 2


def test_importances_guard_too_few_trials(known_study):
    info = _importance_info(known_study)
    assert info.importances == []
    assert f"at least {MIN_IMPORTANCE_TRIALS} completed trials" in info.message and "has 3" in info.message
    fig = _importance_figure(info)
    assert info.message in fig.layout.annotations[0].text


def test_momentum_plane_holds_every_family_with_momentum_parameters(tmp_path, make_study, trial_spec):
    # Before: one panel per family (10 in the quickstart, 7 of them with one point), titles on axis titles.
    study = make_study(
        tmp_path,
        [
            trial_spec("momentum-lstm", (0.9, 0.5), mu=0.6, s=0.6),
            trial_spec("momentum-lstm", (0.7, 0.4), mu=0.1, s=0.9),
            trial_spec("adam-gru", (0.6, 0.3), mu=0.3, s=0.2),
            trial_spec("rmsprop-lstm", (0.5, 0.1), s=0.4),  # s alone: a column of its own, left of the plane
            trial_spec("plain-lstm", (0.8, 0.2)),  # no momentum parameters: the reference, not a point
            trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0),  # failed: not a point
        ],
    )
    info = _momentum_info(study)
    # In the cells' order of dynamics (momentum, adam, rmsprop), then family and trial.
    assert [(p.number, p.family, p.dynamics, p.mu, p.s, p.metric, p.pareto) for p in info.points] == [
        (0, "momentum-lstm", "momentum", 0.6, 0.6, 0.9, True),
        (1, "momentum-lstm", "momentum", 0.1, 0.9, 0.7, False),
        (2, "adam-gru", "adam", 0.3, 0.2, 0.6, False),
        (3, "rmsprop-lstm", "rmsprop", None, 0.4, 0.5, True),
    ]
    assert info.mu.range == (0.0, 1.0) and info.s.range == (0.0, 1.0)  # the searched ranges, not the points'
    assert info.mu.choices is None and info.no_mu == ["rmsprop"]
    assert info.reference == (4, 0.8)  # the best plain trial, for scale

    fig = _momentum_figure(info)
    traces = {t.name: t for t in fig.data}
    assert list(traces["momentum"].x) == [0.6, 0.1] and list(traces["momentum"].y) == [0.6, 0.9]
    assert list(traces["momentum"].marker.color) == [0.9, 0.7]  # colour = the metric
    assert traces["momentum"].marker.symbol != traces["adam"].marker.symbol != traces["rmsprop"].marker.symbol
    assert traces["rmsprop"].xaxis == "x" and traces["momentum"].xaxis == "x2"  # the column, then the plane
    assert list(fig.layout.xaxis.ticktext) == ["rmsprop"] and fig.layout.xaxis2.title.text == "μ"
    rings = [t for t in fig.data if t.name == "Pareto trial"]
    assert sorted(n for t in rings for n in t.y) == [0.4, 0.6]  # trials 3 and 0
    legend = [t.name for t in fig.data if t.showlegend]
    assert sorted(legend) == ["Pareto trial", "adam", "momentum", "rmsprop"]


def _add_choice_trials(study, specs, *, mu_choices=(0.0, 0.3, 0.6, 0.9), s_choices=(0.3, 0.6, 1.0)):
    """Complete trials whose space chose mu and s from lists (`momentum.s: [0.3, 0.6, 1.0]`): (family, values, mu, s)."""
    families = CategoricalDistribution(["momentum-lstm", "rmsprop-lstm"])
    for family, values, mu, s in specs:
        dynamics, core = family.split("-")
        params, dists = {"family": family, f"{dynamics}.s": s}, {"family": families, f"{dynamics}.s": CategoricalDistribution(s_choices)}
        if mu is not None:
            params[f"{dynamics}.mu"], dists[f"{dynamics}.mu"] = mu, CategoricalDistribution(mu_choices)
        cell = {"core": core, "dynamics": dynamics, "input_size": 1, "hidden_size": 8, "s": s, **({"mu": mu} if mu is not None else {})}
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, values=list(values), params=params, distributions=dists,
                                                  user_attrs={"run_config": {"cell": cell}, "family": family}))
    return study


def test_momentum_choices_keep_their_axis_and_share_their_place_side_by_side(tmp_path, make_study):
    # Before: s chosen from [0.3, 0.6, 1.0], all trials at 0.6, got an axis of 0.54 .. 0.66.
    study = _add_choice_trials(make_study(tmp_path, []), [
        ("momentum-lstm", (0.9, 0.5), 0.6, 0.6), ("momentum-lstm", (0.8, 0.4), 0.6, 0.6), ("momentum-lstm", (0.7, 0.3), 0.6, 0.6),
        ("rmsprop-lstm", (0.6, 0.2), None, 0.6), ("rmsprop-lstm", (0.5, 0.1), None, 0.6),
    ])
    info = _momentum_info(study)
    assert info.s.choices == (0.3, 0.6, 1.0) and info.s.range == (0.3, 1.0)
    assert info.mu.choices == (0.0, 0.3, 0.6, 0.9) and info.mu.range == (0.0, 0.9)
    fig = _momentum_figure(info)
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):  # ticks at the choices only, over all of them
        assert list(axis.tickvals) == [0.3, 0.6, 1.0] and axis.range[0] < 0.3 and axis.range[1] > 1.0
    assert list(fig.layout.xaxis2.tickvals) == [0.0, 0.3, 0.6, 0.9]
    # Three trials at (0.6, 0.6): side by side, centred on mu = 0.6, none hidden under another.
    xs = list(next(t for t in fig.data if t.name == "momentum").x)
    assert len(set(xs)) == 3 and sum(xs) / 3 == pytest.approx(0.6) and max(xs) - min(xs) < 0.1
    column = list(next(t for t in fig.data if t.name == "rmsprop").x)
    assert len(set(column)) == 2 and sum(column) == pytest.approx(0.0)


def test_momentum_shows_only_the_parameters_that_exist(tmp_path, make_study, trial_spec):
    study = make_study(tmp_path, [trial_spec("rmsprop-lstm", (0.6, 0.2), s=0.4), trial_spec("plain-lstm", (0.8, 0.2))])
    info = _momentum_info(study)
    assert info.mu is None and info.no_mu == ["rmsprop"]
    fig = _momentum_figure(info)
    assert "xaxis2" not in fig.layout.to_plotly_json() and {t.xaxis for t in fig.data} == {"x"}  # no empty mu plane
    empty = _momentum_figure(_momentum_info(make_study(tmp_path / "plain", [trial_spec("plain-lstm", (0.8, 0.2))])))
    assert "no completed trial" in empty.layout.annotations[0].text


def test_momentum_colour_scale_stays_where_the_metric_can_be(tmp_path, make_study, trial_spec):
    study = make_study(tmp_path, [trial_spec("momentum-lstm", (0.98, 0.5), mu=0.6, s=0.6), trial_spec("rmsprop-lstm", (0.97, 0.1), s=0.4)])
    info = _momentum_info(study)
    low, high = info.metric_range
    assert 0.0 <= low < 0.97 and 0.98 < high <= 1.0
    fig = _momentum_figure(info)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (low, high)
    assert -0.1 < fig.layout.xaxis2.range[0] < 0.0 and 1.0 < fig.layout.xaxis2.range[1] < 1.1  # mu over its searched range

    mse = make_study(tmp_path / "mse", [trial_spec("momentum-lstm", (0.01, 0.5), mu=0.6, s=0.6)], metric="mse", direction="minimize")
    info = _momentum_info(mse)
    assert 0.0 <= info.metric_range[0] < 0.01 < info.metric_range[1] and not info.maximize
    assert _momentum_figure(info).layout.coloraxis.reversescale  # the better (lower) error is the brighter


def test_grad_profile_log_axis_is_labelled_at_powers_of_ten(known_study):
    # Before: plotly labelled the minor ticks of the log axis as bare digits (2, 3, ... 9).
    axis = _grad_profile_figure(_grad_profile_info(known_study)).layout.yaxis
    assert axis.type == "log" and axis.dtick == 1 and axis.exponentformat == "power"
    assert axis.minor.dtick == "D1"  # minor ticks are drawn, never labelled
    assert axis.range[0] <= -3 and axis.range[1] >= 0.0  # every norm, 1e-3 .. 1, inside
    flat = _grad_profile_figure(_grad_profile_info(known_study)._replace(curves=[])).layout.yaxis
    assert flat.type == "log"


def test_write_plots_writes_html_and_attaches_each_figure_once(known_study, tmp_path):
    from optuna_dashboard._custom_plot_data import SYSTEM_ATTR_PLOT_DATA

    out = tmp_path / "plots"
    paths = plots.write_plots(known_study, out)
    assert [p.name for p in paths] == ["pareto_front.html", "hypervolume.html", "grad_profiles.html", "importances.html", "momentum.html",
                                        "learning_curves.html", "fidelity.html", "confirmation.html"]
    for path in paths:
        text = path.read_text()
        assert "plotly" in text and "<html>" in text
    plots.write_plots(known_study, out)  # a rerun replaces, never duplicates

    storage = search.make_storage(search.storage_url(tmp_path))  # where known_study lives
    study_id = storage.get_study_id_from_name(known_study.study_name)

    def graph_ids():
        attrs = storage.get_study_system_attrs(study_id)
        return {k[len(SYSTEM_ATTR_PLOT_DATA):].split(":")[0] for k in attrs if k.startswith(SYSTEM_ATTR_PLOT_DATA)}

    assert graph_ids() == {"momnas-pareto-front", "momnas-hypervolume", "momnas-grad-profiles", "momnas-importances", "momnas-momentum",
                           "momnas-learning-curves", "momnas-fidelity", "momnas-confirmation"}
    # The dashboard draws each in a 450 px high card: the attached copies fill it, never a fixed page size.
    attrs = storage.get_study_system_attrs(study_id)
    chunks: dict[str, list] = {}  # the dashboard stores each figure's JSON in numbered pieces
    for key, value in attrs.items():
        if key.startswith(SYSTEM_ATTR_PLOT_DATA):
            graph, _, index = key[len(SYSTEM_ATTR_PLOT_DATA):].partition(":")
            chunks.setdefault(graph, []).append((int(index), value))
    layouts = [json.loads("".join(v for _, v in sorted(pieces)))["layout"] for pieces in chunks.values()]
    assert len(layouts) == 8 and all(layout["height"] == 450 and "width" not in layout for layout in layouts)


def test_plot_pages_have_a_title_and_the_dashboard_copy_room_for_it(known_study, tmp_path):
    from search.plots._writer import _for_dashboard

    paths = plots.write_plots(known_study, tmp_path / "plots", attach=False)
    titles = {p.stem: p.read_text().split("<title>")[1].split("</title>")[0] for p in paths}  # before: no <title>
    assert titles["pareto_front"] == "Pareto front: val_acc against instability · study study"
    assert titles["momentum"] == "val_acc against the momentum parameters μ and s · study study"
    hv = plots.plot_hypervolume(known_study)  # a title and two lines of subtitle
    assert _for_dashboard(hv).layout.margin.t > _for_dashboard(plots.plot_importances(known_study)).layout.margin.t
    assert _for_dashboard(hv).layout.height == 450


_FILL_THE_DISK = """
import resource, signal, sys
import search
from search.plots import write_plots

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) rather than killing
study = search.open_study(sys.argv[1])
for folder, limit in zip(sys.argv[2::2], sys.argv[3::2]):
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.RLIM_INFINITY))
    try:
        write_plots(study, folder, attach=False)
        print("written")
    except OSError as exc:
        print(exc.errno)
"""


def test_a_full_disk_leaves_every_plot_file_whole_or_absent(known_study, tmp_path):
    # Before: plotly wrote in place, and a full disk left a cut plotly.min.js that every page loaded.
    # The disk fills for real: a file size limit (RLIMIT_FSIZE) in a subprocess.
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    plots.write_plots(known_study, kept, attach=False)
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    result = subprocess.run([sys.executable, "-c", _FILL_THE_DISK, str(tmp_path), str(fresh), "1000000", str(kept), "8000"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["27", "27"]  # EFBIG: both runs failed
    assert list(fresh.iterdir()) == []  # plotly.min.js (4.8 MB) could not be written: nothing is, not even a temporary
    # pareto_front.html no longer fits: the earlier one stays whole, beside everything else as it was.
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before


def test_a_cut_plotly_js_is_written_again(known_study, tmp_path):
    out = tmp_path / "plots"
    out.mkdir()
    (out / "plotly.min.js").write_text(plotly.offline.get_plotlyjs()[:1000])  # what a full disk left before
    plots.write_plots(known_study, out, attach=False)
    assert (out / "plotly.min.js").read_text() == plotly.offline.get_plotlyjs()


def test_plots_of_an_empty_study_say_so(tmp_path, make_study, trial_spec):
    study = make_study(tmp_path, [trial_spec("plain-lstm", state="fail")])
    assert _hypervolume_info(study).numbers == []
    assert _pareto_info(study).front == []
    paths = plots.write_plots(study, tmp_path / "plots", attach=False)
    assert all(p.exists() for p in paths)
    assert not math.isnan(_pareto_info(study).points[0].value)


def test_plot_command_writes_where_the_study_lives(known_study, tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    result = CliRunner().invoke(app, ["plot", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = [line for line in result.stdout.splitlines() if line.endswith(".html")]
    assert written == [str(tmp_path / "study" / "plots" / f"{n}.html") for n in ("pareto_front", "hypervolume", "grad_profiles", "importances", "momentum", "learning_curves", "fidelity", "confirmation")]
    assert all(Path(p).stat().st_size > 0 for p in written)

    result = CliRunner().invoke(app, ["plot", "--out", str(tmp_path), "--study", "nope"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no study 'nope'" in result.stderr and "study" in result.stderr


def test_plot_to_a_file_is_one_line_and_draws_nothing(known_study, tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    (tmp_path / "afile").write_text("mine")
    for to, words in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "sub", "lies under")):
        result = CliRunner().invoke(app, ["plot", "--out", str(tmp_path), "--to", str(to)])
        # Before: "[Errno 17] File exists" for a file, a NotADirectoryError traceback under one.
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
        assert words in result.stderr and "name a folder for the plots" in result.stderr
    assert (tmp_path / "afile").read_text() == "mine"


def test_trials_early_stopping_ended_are_drawn_stopped_where_they_stopped(tmp_path, make_study, trial_spec):
    from search.plots._learning_curves import _curves_figure, _curves_info

    curve = lambda *points: [{"epoch": e, "metric": m, "instability": i} for e, m, i in points]  # noqa: E731
    study = make_study(tmp_path, [
        trial_spec("plain-lstm", (0.8, 0.2), curve=curve((1, 0.6, 0.3), (2, 0.7, 0.25), (3, 0.8, 0.2))),
        trial_spec("momentum-lstm", (0.7, 0.6), curve=curve((1, 0.5, 0.7), (2, 0.6, 0.65), (3, 0.7, 0.6))),
        # MO-ASHA stopped it at its first rung: no values, no metrics.json, just its curve.
        trial_spec("adam-gru", state="pruned", curve=curve((1, 0.4, 0.9)), stopped_at=1),
    ])
    by = {p.number: p for p in _pareto_info(study).points}
    assert by[2].kind == "stopped" and (by[2].value, by[2].instability, by[2].at_edge) == (0.4, 0.9, False)
    assert "stopped at epoch 1" in by[2].hover
    assert _pareto_info(study).front == [0]  # never on the front

    info = _curves_info(study)
    assert [(c.number, c.kind, c.epochs) for c in info.curves] == [(0, "pareto", [1, 2, 3]), (1, "other", [1, 2, 3]), (2, "stopped", [1])]
    assert info.curves[2].metric == [0.4] and info.curves[2].instability == [0.9]
    fig = _curves_figure(info)
    stopped = [t for t in fig.data if 2 in t.customdata]
    assert len(stopped) == 2 and stopped[0].line.dash == "dot" and stopped[0].marker.symbol == "x"
    assert sorted({n for t in fig.data for n in t.customdata}) == [0, 1, 2]


def test_learning_curves_name_each_pareto_trial_and_put_instability_on_a_log_scale(tmp_path, make_study, trial_spec):
    curve = lambda *points: [{"epoch": e, "metric": m, "instability": i} for e, m, i in points]  # noqa: E731
    study = make_study(tmp_path, [
        trial_spec("momentum-lstm", (0.9, 0.5), curve=curve((1, 0.6, 20.0), (2, 0.9, 0.5))),
        trial_spec("momentum-lstm", (0.8, 0.2), curve=curve((1, 0.5, 12.0), (2, 0.8, 0.2))),
        trial_spec("momentum-lstm", (0.7, 0.6), curve=curve((1, 0.5, 9.0), (2, 0.7, 0.6))),
        trial_spec("plain-lstm", (0.6, 0.7), curve=curve((1, 0.4, 3.0), (2, 0.6, 0.7))),
        trial_spec("adam-gru", state="pruned", curve=curve((1, 0.4, 0.9)), stopped_at=1),
    ])
    fig = _curves_figure(_curves_info(study))
    # Before: one entry per (family, kind), which ran past the bottom of the dashboard's card.
    legend = [t.name for t in sorted(fig.data, key=lambda t: t.legendrank) if t.showlegend]
    assert legend == ["trial 0 · momentum-lstm", "trial 1 · momentum-lstm", "adam-gru", "momentum-lstm", "plain-lstm"]
    pareto = [t for t in fig.data if t.name.startswith("trial ") and t.xaxis == "x"]
    assert pareto[0].line.color == pareto[1].line.color and pareto[0].line.dash != pareto[1].line.dash
    # Before: a linear axis up to 20, on which the final values 0.2 .. 0.7 were one flat line.
    axis = fig.layout.yaxis2
    assert axis.type == "log" and axis.range[0] < math.log10(0.2) and axis.range[1] > math.log10(20.0)


def _curve(points):
    return [{"epoch": float(e), "metric": m, "instability": 1.0} for e, m in points]


def test_the_rung_to_target_rank_correlation_on_a_hand_made_study(tmp_path, make_study, trial_spec):
    from search import rung_fidelity
    from search.plots._fidelity import _fidelity_figure, _fidelity_info

    # Five trials to the target of 9 epochs. At epoch 1 the order is reversed at the end (rho = -1);
    # at epoch 3 it is the target's order (rho = 1). A sixth trial stopped at 3 never reached the target.
    ends = [0.9, 0.8, 0.7, 0.6, 0.5]
    specs = [trial_spec("momentum-lstm", (end, 0.5), curve=_curve([(1, 0.1 * (i + 1)), (3, end - 0.05), (9, end)]))
             for i, end in enumerate(ends)]
    specs.append(trial_spec("plain-lstm", state="pruned", recorded=(0.95, 0.1), curve=_curve([(1, 0.99), (3, 0.95)]), stopped_at=3))
    study = make_study(tmp_path, specs, target=9, rungs=(1, 3))
    by_epoch = {f.epoch: f for f in rung_fidelity(study)}
    assert by_epoch[1.0].spearman == pytest.approx(-1.0) and by_epoch[1.0].trials == 5
    assert by_epoch[3.0].spearman == pytest.approx(1.0)
    info = _fidelity_info(study)
    fig = _fidelity_figure(info)
    assert [a.text for a in fig.layout.annotations] == ["epoch 1: ρ = -1.00 (n = 5)", "epoch 3: ρ = +1.00 (n = 5)"]
    # Without a recorded target there is nothing to correlate against.
    assert rung_fidelity(make_study(tmp_path / "other", specs[:2])) == []


def test_too_few_trials_at_the_target_give_no_rho(tmp_path, make_study, trial_spec):
    from search import rung_fidelity

    specs = [trial_spec("plain-lstm", (0.5 + i / 10, 0.5), curve=_curve([(1, 0.3 + i / 10), (3, 0.5 + i / 10)])) for i in range(3)]
    (rung,) = rung_fidelity(make_study(tmp_path, specs, target=3, rungs=(1,)))
    assert rung.trials == 3 and rung.spearman is None  # fewer than 4 trials


def test_the_confirmation_figure_reads_the_stored_confirmation(tmp_path, make_study, trial_spec):
    from search import _record
    from search.confirm import Confirmation, ConfirmedCell
    from search.plots._confirmation import _confirmation_figure, _confirmation_info

    study = make_study(tmp_path, [trial_spec("momentum-lstm", (0.9, 0.5)), trial_spec("plain-lstm", (0.8, 0.2))], target=5)
    assert _confirmation_info(study).confirmation is None
    cells = (ConfirmedCell(0, "momentum-lstm", None, (1, 2, 3), ((0.91, 0.5), (0.92, 0.4), (0.93, 0.45)), ("completed",) * 3, (0.9, 0.5)),
             ConfirmedCell(1, "plain-lstm", "LSTM", (1, 2, 3), ((0.80, 0.2), (0.81, 0.3), (0.79, 0.25)), ("completed",) * 3, (0.8, 0.2)))
    confirmation = Confirmation("study", 5, ("val_acc", "instability"), True, cells, str(tmp_path), 1.0, prior_trial=1)
    _record.write_confirmed(study, confirmation.to_dict(), headline=confirmation.headline(), store=search.study_artifact_store(study))
    info = _confirmation_info(study)
    assert info.confirmation.best_prior.trial == 1 and info.confirmation.best().trial == 0
    # accuracy 0.92 ± 0.01 against 0.80 ± 0.01: better beyond the spread; instability worse beyond it.
    assert info.verdict == ("trial 0 (momentum-lstm) better than the best prior, trial 1 (LSTM), beyond the seed spread: "
                            "no difference")
    fig = _confirmation_figure(info)
    assert "★ the best prior" in fig.layout.title.text
    assert sum(len(t.x) for t in fig.data if t.marker.opacity == 0.6) == 12  # a dot per seed and objective
