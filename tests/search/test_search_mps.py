"""CUDA MPS for trials that share a GPU, where it cannot run: no NVIDIA driver utilities on this
machine. The daemon itself (start, use by Ray's trial workers, stop, one left running by hand)
was run on an H200: benchmarks/NOTES.md run 15."""

import pytest

from search._mps import cuda_mps, mps_for_search, mps_running


def test_without_the_daemon_binary_no_daemon_runs_and_mps_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not mps_running()
    with pytest.raises(ValueError, match="--mps needs nvidia-cuda-mps-control .* or leave out --mps") as info:
        with cuda_mps():
            pass
    assert "\n" not in str(info.value)


def test_mps_auto_goes_on_without_the_daemon_and_says_why_while_on_insists(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with mps_for_search("auto", wanted=True) as mps:
        assert mps == "off (no nvidia-cuda-mps-control on PATH)"
    with mps_for_search("auto", wanted=False) as mps, mps_for_search("off", wanted=True) as off:
        assert mps == off == "off"
    with pytest.raises(ValueError, match="--mps needs nvidia-cuda-mps-control"):
        with mps_for_search("on", wanted=True):
            pass


def test_a_search_asking_for_mps_without_a_gpu_is_refused_before_anything_starts(tmp_path):
    from typer.testing import CliRunner

    from search.cli import app

    out = tmp_path / "out"
    for flags, message in ((["--gpus-per-trial", "1"], "give --gpus-per-trial auto or below 1"),
                           ([], "this machine has no GPU that torch can use; leave out --mps")):
        result = CliRunner().invoke(app, ["search", "--task", "adding", "--T", "20", "--trials", "1", "--mps", *flags,
                                          "--out", str(out)])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert not out.exists()


def test_the_daemon_starts_seeing_every_gpu_so_that_rays_gpu_ids_name_devices_under_mps(tmp_path, monkeypatch):
    # The MPS daemon renumbers the GPUs it sees; Ray tells a trial its physical GPU id, so a daemon
    # started with CUDA_VISIBLE_DEVICES=1 would leave the trials of GPU "1" with no device (run 21 on
    # an H200: they trained on the CPU). A stand-in for NVIDIA's binary records the daemon's environment.
    log = tmp_path / "daemon-env"
    daemon = tmp_path / "nvidia-cuda-mps-control"
    daemon.write_text(f"""#!/bin/sh
if [ "$1" = "-d" ]; then echo "CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES-unset}}" > {log}; exit 0; fi
read command
[ "$command" = get_server_list ] && exit 1
exit 0
""")
    daemon.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with cuda_mps() as started:
        assert started
    assert log.read_text().strip() == "CUDA_VISIBLE_DEVICES=unset"
    # GPUs named by UUID keep their names through the daemon: one daemon per GPU stays possible.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8a1c")
    with cuda_mps():
        pass
    assert log.read_text().strip() == "CUDA_VISIBLE_DEVICES=GPU-8a1c"


def test_a_trial_given_a_gpu_that_torch_cannot_see_fails_in_one_line_instead_of_training_on_the_cpu(monkeypatch):
    from search._resources import pinned_device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    auto = {"train": {"device": "auto"}}
    with pytest.raises(RuntimeError, match=r"Ray gave this trial GPU 1 but torch sees no CUDA device .*MPS") as info:
        pinned_device(auto, ["1"], cuda_available=False)
    assert "\n" not in str(info.value)
    assert pinned_device(auto, ["1"], cuda_available=True) == auto
    assert pinned_device(auto, [], cuda_available=False)["train"]["device"] == "cpu"
