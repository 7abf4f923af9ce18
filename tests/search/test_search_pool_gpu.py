"""On a GPU: a pool worker's imports leave CUDA alone, so that the GPU Ray gives a trial later
(through CUDA_VISIBLE_DEVICES, set when the trial comes) is the one it uses."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import search
from search import _pool

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
ROOT = Path(search.__file__).resolve().parents[1]


def test_the_pools_imports_do_not_initialise_cuda():
    preloaded = [m for m in _pool.PRELOAD if m != "search._warmed"]
    code = (f"import importlib, os; [importlib.import_module(m) for m in {preloaded!r}]; "
            "import torch; assert not torch.cuda.is_initialized(); "
            "os.environ['CUDA_VISIBLE_DEVICES'] = ''; print(torch.cuda.device_count())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # 0: CUDA read CUDA_VISIBLE_DEVICES only now, as a trial's process does once Ray has set it.
    assert done.stdout.strip() == "0", done.stdout + done.stderr
