"""optuna-dashboard over a search's study: its storage, its artifact stores, on this machine only.

`momnas dashboard` calls `serve_dashboard(...)`: it binds the port first (so a busy port is a one-line
error, and port 0 picks a free one), reports the study's URL, then serves until interrupted.

A storage may hold several studies (a PostgreSQL server, or several searches into one --out),
each with its artifacts in its own --out folder: `StudiesArtifactStore` serves each study's
from where that study keeps them, and an artifact that is on no folder of this machine is a
one-line 404 rather than a server error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna

from search._record import StudyRecord
from search._study import ARTIFACT_DIR, DEFAULT_OUT, make_storage, open_study, storage_url

__all__ = ["Dashboard", "open_dashboard", "serve_dashboard"]

DEFAULT_HOST = "127.0.0.1"  # the dashboard can delete studies: never listen beyond this machine by default
DEFAULT_PORT = 8080


class _QuietHandler(WSGIRequestHandler):
    """wsgiref logs every request on stderr; the dashboard polls, which would flood the terminal."""

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class StudiesArtifactStore:
    """An optuna artifact store over the artifact folders of every study in a storage: an
    artifact is read from the folder that holds it, and written where the shown study keeps its own."""

    def __init__(self, folders: list[Path]):
        self.folders = [f for f in dict.fromkeys(folders) if f.is_dir()]

    def find(self, artifact_id: str) -> Path | None:
        return next((f / artifact_id for f in self.folders if (f / artifact_id).is_file()), None)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        from optuna.artifacts.exceptions import ArtifactNotFound

        path = self.find(artifact_id)
        if path is None:
            raise ArtifactNotFound(f"artifact {artifact_id} is in none of {', '.join(map(str, self.folders))}")
        return open(path, "rb")

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        FileSystemArtifactStore(str(self.folders[0])).write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        path = self.find(artifact_id)
        if path is not None:
            path.unlink()


def _artifact_folders(backend, shown: optuna.Study, out_dir) -> list[Path]:
    """The shown study's folder first (`out_dir/artifacts`, else what it recorded), then every other study's."""
    beside = Path(out_dir) / ARTIFACT_DIR
    folders = [beside] if beside.is_dir() else []
    others = [s for s in backend.get_all_studies() if s.study_name != shown.study_name]
    for listed in [shown, *others]:
        recorded = StudyRecord.of(listed).artifact_dir
        if recorded:
            folders.append(Path(recorded))
    return folders or [beside]


_ARTIFACT_PATH = re.compile(r"/artifacts/\d+/(?:\d+/)?([0-9a-fA-F-]+)$")


def _elsewhere_is_404(app, store: StudiesArtifactStore):
    """A WSGI wrapper: a request for an artifact that no folder here holds gets a one-line 404."""
    def wrapped(environ, start_response):
        found = _ARTIFACT_PATH.search(environ.get("PATH_INFO", ""))
        if found and store.find(found[1]) is None:
            body = (f"artifact {found[1]} is not on this machine: its study's artifacts folder "
                    f"(recorded in the study as artifact_dir) is elsewhere\n").encode()
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)
    return wrapped


class Dashboard:
    """A bound, not yet serving optuna-dashboard: `url` is known, `serve_forever()` runs it."""

    def __init__(self, server: WSGIServer, host: str, study_id: int, study_name: str):
        self.server = server
        self.study_name = study_name
        self.port = server.server_port
        self.root = f"http://{host}:{self.port}/dashboard"
        self.url = f"{self.root}/studies/{study_id}"

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def open_dashboard(
    out_dir: str | os.PathLike = DEFAULT_OUT,
    storage: str | None = None,
    study: str | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> Dashboard:
    """Bind optuna-dashboard for the study `momnas search --out out_dir [--storage URL]` stored.

    Every study's artifacts (checkpoints, figures) are served from its own folder: `out_dir/artifacts`
    for this one where it exists, else the `artifact_dir` each study recorded.

    Raises:
        BadInput: no such storage or study (see `search.open_study`).
        OSError: the port is taken (its message names the port).
    """
    from optuna_dashboard import wsgi

    found = open_study(out_dir, storage, study)
    url = storage_url(out_dir, storage)
    backend = make_storage(url, create=False)
    store = StudiesArtifactStore(_artifact_folders(backend, found, out_dir))
    app = _elsewhere_is_404(wsgi(backend, artifact_store=store), store)
    try:
        server = make_server(host, port, app, handler_class=_QuietHandler)
    except OSError as exc:
        import errno
        import socket

        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            # The address, not the port, is wrong: a name that does not resolve, or not this machine's.
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}): give one of this machine's addresses "
                          "with --host, e.g. 127.0.0.1 (the default)") from None
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another with --port, or --port 0 for any free one") from None
    return Dashboard(server, host, backend.get_study_id_from_name(found.study_name), found.study_name)


def serve_dashboard(
    out_dir: str | os.PathLike = DEFAULT_OUT,
    storage: str | None = None,
    study: str | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[Dashboard], None] | None = None,
) -> None:
    """Serve optuna-dashboard for a stored study until interrupted; `on_ready` hears its URL first.

    Example:
        >>> import threading
        >>> def ready(dashboard):
        ...     print(dashboard.url)
        ...     threading.Thread(target=dashboard.close).start()  # here: stop at once (a user presses Ctrl-C)
        >>> serve_dashboard("momnas-runs", port=0, on_ready=ready)
        http://127.0.0.1:.../dashboard/studies/1
    """
    dashboard = open_dashboard(out_dir, storage, study, host=host, port=port)
    if on_ready is not None:
        on_ready(dashboard)
    dashboard.serve_forever()
