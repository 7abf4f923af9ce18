"""save / load: checkpoints, runs checkpoints, exported JSON, and one-line errors naming the file."""

import json

import pytest
import torch

from cells import CellConfig, after_optimizer_step, build_cell, load, save
from cells_helpers import every_family, small_cell


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("core,dynamics,extra", [f for f in every_family() if f[1] in ("momentum", "nag_restart")])
def test_round_trip(tmp_path, core, dynamics, extra):
    cell = small_cell(core, dynamics, **extra)
    path = tmp_path / "cell.pt"
    save(cell, path)
    again = load(path)
    assert again.config == cell.config and type(again).__name__ == type(cell).__name__
    assert same_weights(cell, again)
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(again(x)[0], cell(x)[0], rtol=0, atol=0)


def test_round_trip_keeps_manifold_state(tmp_path):
    """DTRIV's base and step counter, and ENRNN's latch, are part of the weights."""
    cell = build_cell(CellConfig(core="orthogonal", K=3, input_size=2, hidden_size=4))
    opt = torch.optim.SGD(cell.parameters(), lr=0.1)
    for _ in range(4):
        opt.zero_grad()
        cell(torch.randn(2, 3, 2))[0].sum().backward()
        opt.step()
        after_optimizer_step(cell)
    save(cell, tmp_path / "o.pt")
    again = load(tmp_path / "o.pt")
    assert int(again.parametrizations.weight_hh[0].steps) == 4
    torch.testing.assert_close(again.weight_hh, cell.weight_hh, rtol=0, atol=0)


def test_checkpoint_format(tmp_path):
    cell = small_cell("gru", "adam")
    save(cell, tmp_path / "c.pt")
    data = torch.load(tmp_path / "c.pt", weights_only=True)
    assert data["format"] == "momnas-checkpoint" and data["version"] == 1
    assert data["cell"] == cell.config.to_dict() and data["cell_state"].keys() == cell.state_dict().keys()


def test_reads_a_runs_checkpoint(tmp_path):
    cell = small_cell("lstm", "momentum")
    torch.save({"format": "momnas-checkpoint", "version": 1, "cell": cell.config.to_dict(),
                "cell_state": cell.state_dict(), "run": {"task": {"name": "adding"}},
                "model_state": {"readout.weight": torch.zeros(1, 4)}}, tmp_path / "run.pt")
    assert same_weights(load(tmp_path / "run.pt"), cell)


def test_json_without_weights_gives_a_fresh_cell(tmp_path):
    cfg = CellConfig(core="cornn", dynamics="momentum", input_size=2, hidden_size=5, dt=0.06)
    (tmp_path / "best.json").write_text(json.dumps({"cell": cfg.to_dict(), "task": {}, "train": {}}))
    cell = load(tmp_path / "best.json")
    assert cell.config == cfg


def test_json_with_weights(tmp_path):
    cell = small_cell("unitary", "adam")
    (tmp_path / "w").mkdir()
    save(cell, tmp_path / "w" / "best.pt")
    (tmp_path / "best.json").write_text(json.dumps({"cell": cell.config.to_dict(), "weights": "w/best.pt"}))
    assert same_weights(load(tmp_path / "best.json"), cell)


def one_line_error(exc_type, path, *fragments):
    with pytest.raises(exc_type) as info:
        load(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith("cells.load: ")
    for fragment in (str(path), *fragments):
        assert fragment in text
    return text


def test_errors(tmp_path):
    one_line_error(FileNotFoundError, tmp_path / "missing.pt", "does not exist; pass a checkpoint")
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01 not a pickle")
    one_line_error(ValueError, tmp_path / "junk.pt", "is not a readable checkpoint", "write it with cells.save")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    one_line_error(ValueError, tmp_path / "other.pt", "is not a momnas checkpoint")
    cell = small_cell("rnn")
    torch.save({"format": "momnas-checkpoint", "version": 9, "cell": cell.config.to_dict(),
                "cell_state": cell.state_dict()}, tmp_path / "future.pt")
    one_line_error(ValueError, tmp_path / "future.pt", "version 9")
    torch.save({"format": "momnas-checkpoint", "version": 1, "cell": small_cell("gru").config.to_dict(),
                "cell_state": cell.state_dict()}, tmp_path / "mismatch.pt")
    one_line_error(ValueError, tmp_path / "mismatch.pt", "the weights do not fit the cell")
    torch.save({"format": "momnas-checkpoint", "version": 1, "cell": {"core": "rnn", "mu": 0.5},
                "cell_state": {}}, tmp_path / "foreign.pt")
    one_line_error(ValueError, tmp_path / "foreign.pt", "mu does not apply")


def test_json_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    one_line_error(ValueError, tmp_path / "bad.json", "is not valid JSON")
    (tmp_path / "nocell.json").write_text(json.dumps({"task": {}}))
    one_line_error(ValueError, tmp_path / "nocell.json", 'has no top-level "cell" entry')
    (tmp_path / "wrong.json").write_text(json.dumps({"cell": {"core": "lstm", "hidden_size": -1}}))
    one_line_error(ValueError, tmp_path / "wrong.json", "hidden_size=-1 is not allowed")
    (tmp_path / "noweights.json").write_text(json.dumps({"cell": {"core": "lstm"}, "weights": "gone.pt"}))
    one_line_error(FileNotFoundError, tmp_path / "noweights.json", "gone.pt", "does not exist")
    save(small_cell("gru"), tmp_path / "gru.pt")
    (tmp_path / "other.json").write_text(json.dumps({"cell": {"core": "lstm"}, "weights": "gru.pt"}))
    one_line_error(ValueError, tmp_path / "other.json", "holds a different cell")


def test_save_refuses_a_foreign_module(tmp_path):
    with pytest.raises(TypeError, match="expected a cell built by build_cell"):
        save(torch.nn.LSTM(2, 3), tmp_path / "x.pt")


@pytest.mark.parametrize("core", ["lstm", "orthogonal", "unitary", "urnn", "enrnn"])
def test_pickle_round_trip(core):
    """torch refuses to pickle parametrized modules; cells rebuild from config and weights instead."""
    import pickle

    cell = small_cell(core, "momentum", dtype=torch.float64).eval()
    again = pickle.loads(pickle.dumps(cell))
    assert again.config == cell.config and not again.training and same_weights(again, cell)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(again(x)[0], cell(x)[0], rtol=0, atol=0)
