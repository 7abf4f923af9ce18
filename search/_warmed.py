"""Imported last by the workers of a local search's Ray (search._pool.PRELOAD), once the trial's
modules are: leaves a file named after this process in the folder MOMNAS_POOL_DIR names, which
the search waits for before it draws its first trial."""

from __future__ import annotations

import os
import time
from pathlib import Path

from search._pool import ENV


def _report() -> float | None:
    folder = os.environ.get(ENV)
    if not (folder and os.path.isdir(folder)):
        return None
    Path(folder, str(os.getpid())).touch()
    return time.time()


# When this process had the trial's modules imported (time.time()); None outside a pool worker.
# A trial records it against its draw (search._record).
ready_at = _report()
