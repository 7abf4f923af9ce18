"""One live search per study: a lease in the study's storage that the search renews while it runs.

Two `--resume` of one study at once would otherwise both run its missing trials (with the
same sampler seed: duplicates), and the second would mark the first's live trials as
interrupted. The lease is a study system attribute (`BaseStorage.set_study_system_attr`,
public storage API, so it works alike for SQLite files, database servers and journal files):
the search that holds it renews it every `RENEW_S` seconds and releases it at its end. A
second search refuses to start while the lease is fresh; once it is stale (its search was
killed), the next search takes it over and re-queues the trials that search left running.

Taking the lease is write-then-read: each contender checks that no fresh lease is held,
writes its own, waits `SETTLE_S`, and keeps going only if the lease still names it, so two
searches started in the same instant end with one of them refusing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

import optuna

from search.errors import BadInput

KEY = "momnas:search_lease"
RENEW_S = 5.0       # how often a live search renews its lease
STALE_S = 30.0      # a lease not renewed for this long belongs to a search that is gone
SETTLE_S = 1.0      # time for a contender's write to land before reading the lease back


def _alive_here(lease: dict[str, Any]) -> bool | None:
    """Whether the lease's process still runs, when it ran on this machine (None: cannot tell)."""
    if lease.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(lease["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, KeyError, TypeError):
        return None
    return True


def live_lease(storage: optuna.storages.BaseStorage, study_id: int, *, now: float | None = None) -> dict[str, Any] | None:
    """The lease of a search still running on this study, or None."""
    lease = storage.get_study_system_attrs(study_id).get(KEY)
    if not lease:
        return None
    alive = _alive_here(lease)
    if alive is False:
        return None
    age = (time.time() if now is None else now) - float(lease.get("renewed", 0))
    return lease if alive or age < STALE_S else None


class Lease:
    """The lease of this process's search on one study (`acquire`, then `release` at its end)."""

    def __init__(self, storage: optuna.storages.BaseStorage, study_id: int, study_name: str):
        self.storage, self.study_id, self.study_name = storage, study_id, study_name
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        self.storage.set_study_system_attr(self.study_id, KEY, {
            "owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "renewed": time.time()})

    def acquire(self) -> None:
        """Take the lease, or refuse in one line while another search holds it."""
        for attempt in range(2):
            held = live_lease(self.storage, self.study_id)
            if held is not None and held.get("owner") != self.owner:
                raise BadInput(
                    f"study {self.study_name!r} is being searched right now by process {held.get('pid')} on "
                    f"{held.get('host')} (its lease was renewed {time.time() - float(held.get('renewed', 0)):.0f} s ago); "
                    "wait for that search to end (or stop it), then --resume")
            self._write()
            time.sleep(SETTLE_S)
            if (self.storage.get_study_system_attrs(self.study_id).get(KEY) or {}).get("owner") == self.owner:
                self._thread = threading.Thread(target=self._renew, name="momnas-lease", daemon=True)
                self._thread.start()
                return
        raise BadInput(f"study {self.study_name!r} was taken by another search started at the same moment; "
                       "wait for it to end, then --resume")

    def _renew(self) -> None:
        while not self._halt.wait(RENEW_S):
            try:
                self._write()
            except Exception:  # a busy storage: the next renewal (well inside STALE_S) catches up
                pass

    def release(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            if (self.storage.get_study_system_attrs(self.study_id).get(KEY) or {}).get("owner") == self.owner:
                self.storage.set_study_system_attr(self.study_id, KEY, None)
        except Exception:  # the storage went away: the lease goes stale by itself
            pass
