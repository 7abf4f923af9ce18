"""`momnas dashboard` serves a real study, and a real headless Chromium sees it render.

Needs Debian's chromium at /usr/bin/chromium (driven by Playwright; never a downloaded browser).
Skipped where it is missing, except under CI (env CI set), where that is a failure.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

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
    """`momnas dashboard --port 0` on a 14-trial study with its figures attached; yields its URL."""
    rng = random.Random(1)
    specs = [trial_spec("momentum-lstm", (0.5 + 0.4 * rng.random(), rng.random()), mu=rng.random(), s=rng.random(),
                        profile=[10 ** (-3 + 0.5 * i) for i in range(8)]) for _ in range(8)]
    specs += [trial_spec("plain-lstm", (0.5 + 0.4 * rng.random(), rng.random()), profile=[1.0] * 8) for _ in range(4)]
    specs += [trial_spec("momentum-lstm", state="fail", mu=0.9, s=1.0), trial_spec("adam-gru", state="pruned", mu=0.3, s=0.3, recorded=(0.55, 0.4))]
    out = tmp_path / "runs"
    study = make_study(out, specs, name="dash-study")
    write_plots(study, out / "dash-study" / "plots")

    proc = subprocess.Popen(
        [sys.executable, "-c", "from search.cli import app; app()", "dashboard", "--out", str(out), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail(f"momnas dashboard printed no URL in 60 s; stderr: {proc.stderr.read() if proc.poll() is not None else '(still running)'}")
        if "http://127.0.0.1:" not in line:
            proc.wait(timeout=10)
            pytest.fail(f"momnas dashboard said {line!r}; stderr: {proc.stderr.read()}")
        yield line.split()[-1], study
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dashboard_renders_study_trials_and_pareto_front(dashboard, tmp_path):
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    url, study = dashboard
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
