"""`momnas dashboard` serves a real study, and a real headless Chromium sees it render.

Needs Debian's chromium at /usr/bin/chromium (driven by Playwright; never a downloaded browser).
Skipped where it is missing, except under CI (env CI set), where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import optuna
import pytest

import search
from search.plots import write_plots

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def _need_browser():
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright python package is missing (pip install playwright; no browser download needed)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test under CI: {missing}")
        pytest.skip(missing)


@pytest.fixture
def dashboard(tmp_path, make_study, trial_spec):
    """`momnas dashboard --port 0` on a 14-trial study with its figures attached; yields its URL, the
    study and the dashboard's stderr lines so far."""
    rng = random.Random(1)
    curve = [{"epoch": float(e), "metric": 0.1 * e, "instability": 1.0 / e} for e in range(1, 21)]
    specs = [trial_spec("momentum-lstm", (0.5 + 0.4 * rng.random(), rng.random()), mu=rng.random(), s=rng.random(),
                        profile=[10 ** (-3 + 0.5 * i) for i in range(8)], curve=curve) for _ in range(8)]
    specs += [trial_spec("plain-lstm", (0.5 + 0.4 * rng.random(), rng.random()), profile=[1.0] * 8) for _ in range(4)]
    specs += [trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0), trial_spec("adam-gru", state="pruned", mu=0.3, s=0.3, recorded=(0.55, 0.4))]
    out = tmp_path / "runs"
    study = make_study(out, specs, name="dash-study")
    write_plots(study, out / "dash-study" / "plots")

    with _served(out) as (url, errors):
        yield url, study, errors


@contextlib.contextmanager
def _served(out: Path):
    """`momnas dashboard --out OUT --port 0` running: yields its URL and its stderr lines so far."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from search.cli import app; app()", "dashboard", "--out", str(out), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    errors: list[str] = []
    threading.Thread(target=lambda: [errors.append(line) for line in proc.stderr], daemon=True).start()
    try:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail(f"momnas dashboard printed no URL in 60 s; stderr: {''.join(errors)}")
        if "http://127.0.0.1:" not in line:
            proc.wait(timeout=10)
            pytest.fail(f"momnas dashboard said {line!r}; stderr: {''.join(errors)}")
        yield line.split()[-1], errors
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dashboard_renders_study_trials_and_pareto_front(dashboard, tmp_path):
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    url, study, _ = dashboard
    study_id = search.make_storage(search.storage_url(tmp_path / "runs")).get_study_id_from_name(study.study_name)
    assert url.endswith(f"/dashboard/studies/{study_id}")
    n_finished = len(study.trials)  # 12 complete, 1 failed, 1 stopped
    shot = tmp_path / "dashboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            expect(page.get_by_text("dash-study", exact=False).first).to_be_visible(timeout=30_000)

            # optuna-dashboard's own Pareto front, with a point per complete trial.
            pareto_card = page.locator(".MuiCard-root", has=page.get_by_text("Pareto Front", exact=True))
            expect(pareto_card.first).to_be_visible(timeout=30_000)
            expect(pareto_card.first.locator(".scatterlayer .point").nth(11)).to_be_attached(timeout=30_000)

            # Our attached Pareto figure: every finished trial a point, failed and stopped included.
            ours = page.locator(".js-plotly-plot", has=page.locator("text=Pareto front: val_acc"))
            expect(ours.first).to_be_visible(timeout=30_000)
            assert ours.first.locator(".scatterlayer .point").count() == n_finished
            for title in ("Hypervolume of the Pareto front", "Gradient profiles of the Pareto trials", "val_acc against the momentum parameters"):
                expect(page.locator(f"text={title}").first).to_be_attached(timeout=10_000)
            page.wait_for_timeout(1000)  # let plotly finish its transitions before the picture
            # Our figures fit the dashboard's cards: no title or legend runs past the card's edge.
            for card in page.locator('[id^="user-defined-plot:"]').all():
                box = card.bounding_box()
                for part in card.locator(".gtitle, .legend").all():
                    inner = part.bounding_box()
                    assert inner["x"] + inner["width"] <= box["x"] + box["width"] + 1, (card.get_attribute("id"), part.text_content())
                    assert inner["y"] + inner["height"] <= box["y"] + box["height"] + 1, (card.get_attribute("id"), part.text_content())
            page.screenshot(path=str(shot), full_page=True)

            # The trials, failed and stopped ones included.
            page.goto(url + "/trials")
            expect(page.get_by_text(f"{n_finished} Trials")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Fail", exact=True).first).to_be_visible()
            expect(page.get_by_text("Pruned", exact=True).first).to_be_visible()
            page.screenshot(path=str(tmp_path / "dashboard-trials.png"), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 50_000
    print(f"\ndashboard screenshot: {shot}")


# Where an element ends, and where the text of every element in a card ends (a text node's box:
# an element may be wider than its text).
_RIGHTMOST = """() => Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))"""
_CARD_TEXT = """(card) => { const out = []; const walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT); let n;
  while ((n = walk.nextNode())) { const r = document.createRange(); r.selectNodeContents(n);
    out.push([n.textContent.slice(0, 60), r.getBoundingClientRect().right]); }
  return out; }"""


def test_the_study_and_trial_pages_fit_a_laptop_screen(dashboard, tmp_path):
    """At 1366 px wide nothing scrolls sideways: every user attribute is a few words or numbers
    (optuna-dashboard shows a trial's on lines that do not wrap); curves, profiles, metrics and
    configs are artifacts. Before: the trial page was 9,207 px wide, the study's space_spec ran
    out of its card. Optuna's importance warnings are not printed."""
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    url, study, errors = dashboard
    width = 1366
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url)
            card = page.locator(".MuiCard-root", has=page.get_by_text("Study User Attributes", exact=True)).first
            expect(card.get_by_text("metric", exact=True)).to_be_visible(timeout=30_000)  # the study has loaded
            card.locator("select").select_option(label="All")  # every attribute, not the first 5
            expect(card.get_by_text("artifact_dir", exact=True)).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            edge = card.bounding_box()["x"] + card.bounding_box()["width"]
            texts = card.evaluate(_CARD_TEXT)
            # optuna-dashboard's table is at least 650 px wide, its card here 627: what ends past the card is hidden.
            # A folder's path (artifact_dir) cannot wrap, and is as long as the user made it.
            assert all(right <= edge + 1 for text, right in texts if not text.startswith("/")), texts
            page.screenshot(path=str(tmp_path / "study-1366.png"), full_page=True)

            for number in (0, 12):  # a trial with a curve and a gradient profile; a failed one
                page.goto(f"{url}/trials?numbers={number}")
                expect(page.get_by_text(f"Trial {number} (trial_id=", exact=False)).to_be_visible(timeout=30_000)
                expect(page.get_by_text("family ", exact=False).first).to_be_attached()
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                assert page.evaluate(_RIGHTMOST) <= width
            expect(page.get_by_text("run_config.json", exact=True)).to_be_attached()  # the long data, as artifacts
            page.screenshot(path=str(tmp_path / "trial-1366.png"))
        finally:
            browser.close()
    assert not [line for line in errors if "Warning" in line], "".join(errors)


def test_the_dashboard_does_not_print_optunas_importance_warnings(tmp_path, make_study, trial_spec):
    """optuna-dashboard computes the study's parameter importances at every refresh; a parameter
    of a conditional space with a branch of one trial made Optuna warn, each time, on the terminal."""
    import urllib.request

    from optuna.distributions import FloatDistribution

    out = tmp_path / "runs"
    study = make_study(out, [trial_spec("momentum-lstm", (0.5 + 0.1 * i, 0.1 * i), mu=0.1 * i, s=0.5) for i in range(4)],
                       name="warn")
    # mu from another range: a second branch ("regime") of one trial.
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[0.7, 0.3],
                                              params={"mu": 0.2}, distributions={"mu": FloatDistribution(0.0, 0.5)}))
    with warnings.catch_warnings(), pytest.warns(UserWarning, match="Some regimes for parameter"):  # what the dashboard's call meets
        warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")  # about `target`'s sign
        optuna.importance.get_param_importances(study, target=lambda t: t.values[0])
    with _served(out) as (url, errors):
        api = url.replace("/dashboard/studies/", "/api/studies/") + "/param_importances"
        with urllib.request.urlopen(api, timeout=60) as response:
            assert json.load(response)["param_importances"]
    assert not [line for line in errors if "Warning" in line], "".join(errors)


def test_a_checkpoint_downloads_from_the_dashboard_as_binary(tmp_path, make_study):
    """Before: the system's guess for `.pt`, `application/vnd.snesdev-page-table` (a console's ROM format)."""
    import urllib.request

    from search import _record, study_artifact_store

    out = tmp_path / "runs"
    study = make_study(out, [], name="ckpt")
    folder = tmp_path / "trial"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes(b"\x80\x02weights")
    trial = study.ask()
    _record.record(trial, _record.Outcome(optuna.trial.TrialState.FAIL, None, {"status": "failed"}, trial_dir=str(folder)),
                   artifact_store=study_artifact_store(study), storage=None)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    artifact_id = _record.trials(study)[0].artifacts["checkpoint.pt"]
    with _served(out) as (url, _):
        root, study_id = url.split("/dashboard/")[0], int(url.rsplit("/", 1)[1])
        trial_id = search.make_storage(search.storage_url(out)).get_trial_id_from_study_id_trial_number(study_id, 0)
        with urllib.request.urlopen(f"{root}/artifacts/{study_id}/{trial_id}/{artifact_id}", timeout=60) as response:
            assert response.headers["Content-Type"] == "application/octet-stream" and response.read() == b"\x80\x02weights"


@pytest.mark.parametrize("port", ["99999", "-5"])
def test_dashboard_port_out_of_range_is_a_usage_error(port, tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    result = CliRunner().invoke(app, ["dashboard", "--out", str(tmp_path), "--port", port])
    assert result.exit_code == 2 and "Invalid value for '--port'" in result.output  # before: OverflowError traceback


def test_dashboard_bad_host_names_the_host_not_the_port(tmp_path, make_study, trial_spec):
    from typer.testing import CliRunner

    from search.cli import app

    make_study(tmp_path, [trial_spec("plain-lstm", (0.8, 0.2))], name="s")
    result = CliRunner().invoke(app, ["dashboard", "--out", str(tmp_path), "--host", "nohost.invalid", "--port", "0"])
    # Before: "choose another with --port", which cannot help.
    assert result.exit_code == 2 and "cannot listen on nohost.invalid:0" in result.stderr
    assert "--host" in result.stderr and "--port" not in result.stderr
