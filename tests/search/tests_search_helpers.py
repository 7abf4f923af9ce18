"""Shared settings of the search tests (imported by name: pytest puts this folder on sys.path)."""

# Tiny real trials: adding T=20, hidden 8, one epoch of 4 batches, two at a time (the flat config keys).
TINY = dict(
    task="adding", T=20, n_train=256, n_val=64, n_test=64, space="small", epochs=1, hidden=8,
    batch_size=64, max_concurrent=2, seed=0,
)


def tiny(**changes):
    """A SearchConfig of tiny real trials, with `changes` (flat keys) laid over TINY."""
    from search import SearchConfig

    return SearchConfig.from_flat({**TINY, **changes})


class Recorder:
    """A search Listener that remembers what it was told (and refuses to be pickled)."""

    def __init__(self):
        self.lines: list[str] = []
        self.drawn, self.started, self.finished = [], [], []
        self.started_with: dict | None = None

    @property
    def notes(self) -> str:
        return "\n".join(self.lines)

    def note(self, text):
        self.lines.append(text)

    def search_started(self, **info):
        self.started_with = info

    def trial_drawn(self, number, family, prior):
        self.drawn.append((number, family, prior))

    def trial_started(self, number):
        self.started.append(number)

    def trial_finished(self, number, family, status, values, seconds, error=None):
        self.finished.append((number, status, values, error))

    def __reduce__(self):
        raise AssertionError("the listener was pickled")


def postgres_or_skip(url: str) -> None:
    """Skip (under CI=true: fail) unless a PostgreSQL server answers at `url`, as .ci/system-deps
    sets one up; the reason shows the URL with its password masked."""
    import os

    import pytest

    from search import public_url

    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # no driver, no server, no role, wrong password: all mean "not set up here"
        reason = (f"no PostgreSQL at {public_url(url)} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                  "run .ci/system-deps as root")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
