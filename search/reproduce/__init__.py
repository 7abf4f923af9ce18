"""`momnas reproduce`: the seed papers' experiments as presets (data), trained by Ray Tune, reported.

    from search.reproduce import presets, plan, reproduce, write_report
    plan("momentum-psmnist", budget=10, seeds=3, hidden=128)   # the runs, each with the published number
    reproduce("momentum-psmnist", out="repro/momentum-psmnist", budget=10, seeds=3, hidden=128)
    report("repro/momentum-psmnist")                           # report.md + report.html from the stored runs

Presets live in search/reproduce/presets/*.yaml: one table per task, with the published
recipe and, beside each cell, the published number and any departure from the paper.
"""

from search.reproduce._presets import FULL, TINY, Plan, PlannedRun, parse_budget, plan, preset, presets
from search.reproduce._reproduce import preset_rows, report, reproduce
from search.reproduce.report import markdown, report_info, write_report

__all__ = [
    "FULL", "TINY", "Plan", "PlannedRun", "markdown", "parse_budget", "plan", "preset", "preset_rows", "presets",
    "report", "report_info", "reproduce", "write_report",
]
