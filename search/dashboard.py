"""optuna-dashboard over a search's study: its storage, its artifact store, on this machine only.

`momnas dashboard` calls `serve_dashboard(...)`: it binds the port first (so a busy port is a one-line
error, and port 0 picks a free one), reports the study's URL, then serves until interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


from search._study import DEFAULT_OUT, artifact_store, make_storage, open_study, storage_url, study_artifact_store

__all__ = ["Dashboard", "open_dashboard", "serve_dashboard"]

DEFAULT_HOST = "127.0.0.1"  # the dashboard can delete studies: never listen beyond this machine by default
DEFAULT_PORT = 8080


class _QuietHandler(WSGIRequestHandler):
    """wsgiref logs every request on stderr; the dashboard polls, which would flood the terminal."""

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


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

    `out_dir/artifacts` is the dashboard's artifact store (checkpoints, figures), or the study's
    recorded `artifact_dir` when that folder is missing.

    Raises:
        FileNotFoundError / ValueError: no such storage or study (see `search.open_study`).
        OSError: the port is taken (its message names the port).
    """
    from optuna_dashboard import wsgi

    found = open_study(out_dir, storage, study)
    url = storage_url(out_dir, storage)
    backend = make_storage(url, create=False)
    try:
        store = study_artifact_store(found, out_dir)
    except ValueError:  # a study that records none: the folder beside the storage
        store = artifact_store(out_dir)
    app = wsgi(backend, artifact_store=store)
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
