"""Where a search keeps its study: storage URLs, the artifact store, opening a stored study.

`momnas search` writes, and `momnas plot / dashboard / export / status` read, through these
helpers, so that every command finds a study the same way.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from search.errors import BadInput, StorageError

DEFAULT_OUT = "momnas-runs"
DB_NAME = "optuna.db"
ARTIFACT_DIR = "artifacts"
STORAGE_ENV = "MOMNAS_STORAGE"  # the storage URL, for every command with --storage: keeps a password off command lines

# Prefixes a journal file may be given with; anything else with "://" goes to SQLAlchemy.
_JOURNAL_PREFIXES = ("journal:///", "journal://", "journal:")
NAME_MAX_BYTES = 200  # a study's name is also a folder's (OUT/STUDY/, OUT/trials/STUDY/): room below the usual 255


def check_study_name(name: object) -> str:
    """A study name is a name, not a path: the search makes folders named after it under --out,
    so a separator or `..` would put them elsewhere. Returns the name; BadInput otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"search: `study` must be a non-empty name, got {name!r}")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise BadInput(f"--study {name!r}: a study name is a name, not a path (no '/', '\\' or '..'), since its "
                       "folders go under --out; e.g. --study my-search")
    if any(ord(c) < 32 for c in name):
        raise BadInput(f"--study {name!r}: a study name cannot hold control characters; e.g. --study my-search")
    if len(name.encode()) > NAME_MAX_BYTES:
        raise BadInput(f"--study is {len(name.encode())} bytes long, more than the {NAME_MAX_BYTES} a study's folder "
                       "name may take; give a shorter name")
    return name


def storage_url(out_dir: str | os.PathLike = DEFAULT_OUT, storage: str | None = None) -> str:
    """The storage URL a search in `out_dir` uses: `storage` if given, else SQLite in `out_dir`."""
    if storage:
        return storage
    return f"sqlite:///{Path(out_dir).resolve() / DB_NAME}"


def public_url(url: str | None) -> str | None:
    """`url` with its password replaced by `***`: the only form of a storage URL that is shown or stored.

    The user part ends at the *last* `@` before the query: SQLAlchemy's `make_url` splits at
    the first one, so it would show the rest of a password holding a raw `@` as the host
    (`u:pa@ss@host` -> `u:***@ss@host`); a raw `/` or `:` in the password is covered the same way.
    """
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    location, query = rest.split("?", 1) if "?" in rest else (rest, None)
    user_info, at, host = location.rpartition("@")
    if not at or ":" not in user_info:
        masked = url
    else:
        masked = f"{scheme}://{user_info.split(':', 1)[0]}:***@{host}" + (f"?{query}" if query is not None else "")
    if query is not None and "password=" in query:  # libpq also takes ?password=...
        masked = masked.split("?", 1)[0] + "?" + "&".join(
            f"{kv.split('=', 1)[0]}=***" if kv.lower().startswith("password=") else kv for kv in query.split("&"))
    return masked


def has_password(url: str | None) -> bool:
    """Whether `url` carries a secret that `public_url` hides."""
    return public_url(url) != url


def make_storage(url: str, *, create: bool = True) -> BaseStorage:
    """An Optuna storage for `url`.

    `sqlite:///PATH`, `postgresql+psycopg://...`, `mysql+pymysql://...` (any SQLAlchemy URL)
    give an `RDBStorage`; `journal:PATH` or a path ending in `.log` / `.jsonl` gives a
    `JournalStorage` over that file. With `create=False` a missing SQLite or journal file is
    a `BadInput` rather than a new, empty storage, and the tables are never created.
    """
    journal_path = _journal_path(url)
    if journal_path is not None:
        if not create and not journal_path.exists():
            raise BadInput(f"no journal storage at {journal_path}")
        if journal_path.is_dir():
            raise BadInput(f"storage {url!r}: {journal_path} is a folder; name the journal file, e.g. journal:{journal_path / 'journal.log'}")
        _make_parent(journal_path, url)
        return JournalStorage(JournalFileBackend(str(journal_path)))
    if "://" not in url:
        raise BadInput(
            f"storage {url!r} is not a URL: give e.g. sqlite:///path/optuna.db, "
            "postgresql+psycopg://user:pass@host/db, or journal:path/journal.log"
        )
    if url.startswith("sqlite:") and url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://", "sqlite:///") or url.startswith("sqlite:///:memory:"):
        # An in-memory SQLite database vanishes with the process, and the study with it.
        raise BadInput(f"storage {url!r} names no file (SQLite would keep the study in memory and lose it); "
                         "give sqlite:///path/optuna.db, or leave out --storage to use OUT/optuna.db")
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        if not create and not db.exists():
            raise BadInput(f"no study storage at {db}: run `momnas search --out {db.parent}` first")
        if db.is_dir():
            raise BadInput(f"storage {url!r}: {db} is a folder; name the database file, e.g. sqlite:///{db / DB_NAME}")
        _make_parent(db, url)
        if create and db.exists():
            read_only = next((p for p in (db, db.parent) if not _writable(p)), None)
            if read_only is not None:
                raise StorageError(f"storage {db}: {read_only} is read-only, so the study cannot be written; "
                                 f"make it writable (chmod u+w {read_only}) or search into another --out")
        with _schema_lock(db):
            # Several processes (the search, a dashboard, a plot) may use the file at once: wait
            # for the lock rather than fail with "database is locked", and let a reader see the
            # schema only once a starting search has finished writing it. Reading never writes
            # Optuna's tables into a file that lacks them.
            return _rdb(url, {"connect_args": {"timeout": 60}}, read_only=not create)
    if "@" in url.split("://", 1)[1].split("?", 1)[0].rpartition("@")[0]:
        # SQLAlchemy splits the URL at the first `@`: the rest of the password would be taken for
        # the host, and shown back in the driver's error ("failed to resolve host 'word@db'").
        raise BadInput(f"storage {public_url(url)!r}: its user or password holds a raw '@', which a URL cannot "
                         "carry; write it as %40 (e.g. user:p%40w@host/db)")
    return _rdb(url, {"pool_pre_ping": True}, read_only=not create)


def _writable(path: Path) -> bool:
    """Writable by this user, and not marked read-only (root may write anything, but a file its
    owner made read-only is one a search must not change)."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


@contextlib.contextmanager
def _schema_lock(db: Path):
    """Hold a lock file beside a SQLite database while its schema is made or first read: two
    searches started at once into a new --out would otherwise both create it (`table
    alembic_version already exists`), and a reader that opened it half-made would stamp Optuna's
    schema version beside the search (`UNIQUE constraint failed: alembic_version`)."""
    from filelock import FileLock

    lock = db.with_name(f".{db.name}.lock")
    try:
        guard = FileLock(str(lock), timeout=120)
        guard.acquire()
    except OSError:  # a read-only folder: nobody can be creating the schema there
        yield
        return
    try:
        yield
    finally:
        guard.release()


def _make_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"storage {public_url(url)!r}: cannot create its folder {path.parent} "
                         f"({exc.strerror or exc}); choose another path") from None


def _rdb(url: str, engine_kwargs: dict, *, read_only: bool = False) -> RDBStorage:
    """RDBStorage(url); a URL it cannot use (unknown dialect, missing driver, no server, not a
    database) is a one-line StorageError naming the URL, not SQLAlchemy's traceback. `read_only`:
    Optuna's tables must be there already (reading a study never creates them)."""
    import sqlalchemy
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    try:
        if read_only:  # a database without Optuna's tables is refused before Optuna could write them
            engine = sqlalchemy.create_engine(url, **engine_kwargs)
            try:
                has_tables = sqlalchemy.inspect(engine).has_table("studies")
            finally:
                engine.dispose()
            if not has_tables:
                raise StorageError(f"cannot open storage {public_url(url)!r}: it holds no Optuna study (none of Optuna's "
                                   "tables); name the storage a search wrote")
        return RDBStorage(url, engine_kwargs=engine_kwargs, skip_table_creation=read_only)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, StorageInternalError) as exc:
        cause = exc.__cause__ if isinstance(exc, StorageInternalError) and exc.__cause__ is not None else exc
        reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
        if isinstance(exc, sqlalchemy.exc.NoSuchModuleError):
            reason = f"unknown database kind {url.split(':', 1)[0]!r}"
        elif isinstance(exc, ImportError):
            reason = f"its database driver is not installed ({reason})"
        raise StorageError(
            f"cannot open storage {public_url(url)!r}: {reason}; give e.g. sqlite:///path/optuna.db, "
            "postgresql+psycopg://user:pass@host/db, or journal:path/journal.log"
        ) from None


def _journal_path(url: str) -> Path | None:
    for prefix in _JOURNAL_PREFIXES:
        if url.startswith(prefix):
            return Path(url[len(prefix):] or ".").expanduser()
    if "://" not in url and url.endswith((".log", ".jsonl")):
        return Path(url).expanduser()
    return None


def artifact_store(out_dir: str | os.PathLike = DEFAULT_OUT) -> FileSystemArtifactStore:
    """The artifact store beside a study: `out_dir/artifacts` (created if missing)."""
    path = Path(out_dir) / ARTIFACT_DIR
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))


class StoredStudy(optuna.Study):
    """A study as `open_study` opens it: `artifact_folder` is the artifacts folder beside the
    --out it was opened from (None where there is none), which `search._record` reads a trial's
    files from before the folder the search recorded, so a study folder works wherever it was
    moved or copied."""

    def __init__(self, study_name: str, storage: BaseStorage, artifact_folder: Path | None):
        super().__init__(study_name=study_name, storage=storage)
        self.artifact_folder = artifact_folder


def study_artifact_dir(study: optuna.Study, out_dir: str | os.PathLike | None = None) -> Path:
    """The folder of `study`'s artifacts: `out_dir/artifacts` when it exists (a study folder
    works wherever it was moved or copied), else the `artifact_dir` the search recorded."""
    beside = Path(out_dir) / ARTIFACT_DIR if out_dir is not None else getattr(study, "artifact_folder", None)
    if beside is not None and beside.is_dir():
        return beside
    from search._record import StudyRecord

    path = StudyRecord.of(study).artifact_dir
    if not path:
        raise BadInput(f"study {study.study_name!r} records no artifact_dir: was it written by momnas search?")
    return Path(path)


def study_artifact_store(study: optuna.Study, out_dir: str | os.PathLike | None = None) -> FileSystemArtifactStore:
    """The artifact store of `study` (see `study_artifact_dir`)."""
    return FileSystemArtifactStore(str(study_artifact_dir(study, out_dir)))


def open_study(
    out_dir: str | os.PathLike = DEFAULT_OUT,
    storage: str | None = None,
    study: str | None = None,
) -> optuna.Study:
    """Open a study the way `momnas search` stored it.

    Example:
        >>> study = open_study(out_dir="momnas-runs")
        >>> study.study_name, study.metric_names
        ('my-study', ['val_accuracy', 'instability'])

    Args:
        out_dir: The search's `--out` folder; its `optuna.db` is used when `storage` is None.
        storage: Any storage URL `momnas search --storage` accepts.
        study: The study name; optional when the storage holds exactly one study.

    Returns:
        The loaded `optuna.Study` (sampler irrelevant: it is for reading), which knows the
        artifacts folder beside `out_dir` (`StoredStudy`).

    Raises:
        BadInput: No storage file where one was expected, no such study, or several and none named (the message lists them), or a
            study with other than two objectives (not written by `momnas search`).
    """
    url = storage_url(out_dir, storage)
    backend = make_storage(url, create=False)
    names = sorted(optuna.get_all_study_names(storage=backend))
    if study is None:
        if len(names) == 1:
            study = names[0]
        elif not names:
            raise BadInput(f"no study in {public_url(url)}: run `momnas search` first")
        else:
            raise BadInput(f"{public_url(url)} holds {len(names)} studies, name one with --study: {', '.join(names)}")
    elif study not in names:
        listed = ", ".join(names) if names else "none"
        raise BadInput(f"no study {study!r} in {public_url(url)} (studies there: {listed})")
    beside = Path(out_dir) / ARTIFACT_DIR
    loaded = StoredStudy(study, backend, beside.resolve() if beside.is_dir() else None)
    if len(loaded.directions) != 2:
        # Every reader (status, plot, export) expects the two objectives a search records.
        raise BadInput(
            f"study {study!r} in {public_url(url)} has {len(loaded.directions)} objective(s), not the two of a momnas search "
            "(validation metric, instability): it was not written by `momnas search`; name another --study"
        )
    return loaded
