"""The benchmark's data and `momnas bench` (tiny sizes on the CPU: shape of the result, not speed)."""

from __future__ import annotations

import json

import pytest

from cells.benchmark import DEFAULT_FAMILIES, format_table, parse_family, run_benchmark


def test_run_benchmark_rows():
    result = run_benchmark(["momentum-lstm", "nag_restart-lstm:nag_form=paper"], hidden_sizes=(8,), batch=4,
                           steps=6, iters=2, warmup=1, ref_iters=1, device="cpu")
    rows = result["rows"]
    assert [(r["family"], r["hidden_size"]) for r in rows] == [("momentum-lstm", 8),
                                                              ("nag_restart-lstm:nag_form=paper", 8)]
    for r in rows:
        assert r["auto_ms"] > 0 and r["reference_ms"] > 0 and r["cudnn_lstm_ms"] > 0
        assert r["auto_vs_cudnn"] == pytest.approx(r["auto_ms"] / r["cudnn_lstm_ms"])
    assert rows[0]["auto_impl"] == "fused-rnn" and rows[1]["auto_impl"] == "reference"
    assert "momentum-lstm" in format_table(result)


def test_split_knobs_are_recorded_and_reset(tmp_path):
    """`python -m cells.benchmark --split S --stream-k K` times every split kernel at S programs
    (1: one program), reading weights in K-row blocks where a kernel can, for this run only: the
    JSON says which, and the overrides are gone afterwards."""
    from cells.benchmark import main
    from cells.fast import _triton

    out = tmp_path / "bench.json"
    main(["--families", "momentum-gru", "--hidden", "8", "--batch", "3", "--steps", "4", "--iters", "1",
          "--warmup", "0", "--no-reference", "--device", "cpu", "--split", "1", "--stream-k", "32", "--out", str(out)])
    written = json.loads(out.read_text())
    assert (written["split"], written["stream_k"]) == (1, 32)
    assert _triton.OVERRIDES["split"] is None and _triton.OVERRIDES["stream_k"] is None


def test_every_default_family_parses():
    for spec in DEFAULT_FAMILIES:
        assert parse_family(spec, 16).hidden_size == 16
    assert parse_family("nag_restart-lstm:nag_form=paper,restart=40,s=0.9", 8).restart == 40
    with pytest.raises(ValueError, match="dynamics-core"):
        parse_family("lstm", 8)


def test_bench_command_writes_json(tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    out = tmp_path / "bench.json"
    res = CliRunner().invoke(app, ["bench", "-f", "momentum-gru", "-H", "8", "--batch", "3", "--steps", "5",
                                   "--iters", "1", "--warmup", "0", "--no-reference", "--device", "cpu",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["family"] == "momentum-gru" and rows[0]["reference_ms"] is None
    bad = CliRunner().invoke(app, ["bench", "-f", "nonsense", "--device", "cpu"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "bench: batch must be an integer >= 1, got 0"),  # before: exit 0 with a table of nothing
    (["--steps", "0"], "bench: steps must be an integer >= 1, got 0"),  # before: RuntimeError traceback
    (["--iters", "0"], "bench: iters must be an integer >= 1, got 0"),
    (["-H", "0"], "bench: hidden size must be an integer >= 1, got 0"),
    (["--device", "nope"], "bench: unknown device 'nope'"),  # before: RuntimeError traceback
    (["-f", "momentum-lstm:bogus=1"], "unknown key 'bogus'"),
])
def test_bench_bad_input_is_one_line(args, message):
    from typer.testing import CliRunner

    from search.cli import app

    result = CliRunner().invoke(app, ["bench", "-f", "momentum-lstm", "--device", "cpu", "--batch", "2", "--steps", "3",
                                      "--iters", "1", "--warmup", "0", "-H", "4", *args])
    assert result.exit_code == 2 and result.output.startswith("error:") and message in result.output, result.output
    assert "Traceback" not in result.output


def test_bench_out_is_checked_before_timing_and_never_replaced_silently(tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    args = ["bench", "-f", "momentum-lstm", "--device", "cpu", "--batch", "2", "--steps", "3", "--iters", "1",
            "--warmup", "0", "--no-reference", "-H", "4"]
    (tmp_path / "afile").write_text("mine")
    for out, message in ((tmp_path, "is a folder; name the JSON file"),
                         (tmp_path / "afile" / "b.json", "is a file, so the folder cannot be made"),
                         (tmp_path / "afile", "already exists: add --overwrite")):
        result = CliRunner().invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert "cudnn" not in result.output  # nothing was timed
    assert (tmp_path / "afile").read_text() == "mine"
    assert CliRunner().invoke(app, [*args, "--out", str(tmp_path / "afile"), "--overwrite"]).exit_code == 0
    assert json.loads((tmp_path / "afile").read_text())["rows"]
