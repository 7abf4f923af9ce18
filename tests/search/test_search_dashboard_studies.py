"""The dashboard over a storage that holds several studies, each with its artifacts in its own
--out folder: every study's artifacts are served, one that is on no folder here is a one-line
404 (was: HTTP 500 and a 20-line traceback per request)."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
import warnings

import optuna
import pytest
from optuna.artifacts import upload_artifact

import search
from search.dashboard import open_dashboard
from tests_search_helpers import postgres_or_skip

POSTGRES = os.environ.get("MOMNAS_TEST_POSTGRES_URL", "postgresql+psycopg://momnas:momnas@localhost:5432/momnas_test")


def _artifact(study: optuna.Study, folder, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    trial = study.ask()
    artifact_id = upload_artifact(artifact_store=search.study_artifact_store(study), file_path=str(path),
                                  study_or_trial=trial)
    study.tell(trial, [0.5, 0.5])
    return artifact_id


@pytest.mark.parametrize("shared", ["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_each_studys_artifacts_come_from_its_own_folder(tmp_path, shared):
    url = f"journal:{tmp_path / 'shared.log'}"
    if shared == "postgres":
        url = POSTGRES
        postgres_or_skip(url)
    storage = search.make_storage(url)
    names = [f"a-{tmp_path.name[-6:]}", f"b-{tmp_path.name[-6:]}"]
    ids = {}
    for name in names:
        out = tmp_path / name
        (out / "artifacts").mkdir(parents=True)
        study = optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["val_acc", "instability"])
        study.set_user_attr("artifact_dir", str((out / "artifacts").resolve()))
        ids[name] = _artifact(study, tmp_path, f"{name}.txt", f"the artifact of {name}")
    gone = optuna.create_study(storage=storage, study_name=f"gone-{tmp_path.name[-6:]}", directions=["maximize", "minimize"])
    (tmp_path / "gone" / "artifacts").mkdir(parents=True)
    gone.set_user_attr("artifact_dir", str((tmp_path / "gone" / "artifacts").resolve()))
    gone_id = _artifact(gone, tmp_path, "gone.txt", "moved away")
    for path in (tmp_path / "gone" / "artifacts").iterdir():
        path.unlink()
    try:
        dashboard = open_dashboard(tmp_path / names[0], url, names[0], port=0)
        threading.Thread(target=dashboard.serve_forever, daemon=True).start()
        server = dashboard.root.rsplit("/dashboard", 1)[0]

        def artifact_url(name: str, artifact_id: str) -> str:
            study_id = storage.get_study_id_from_name(name)
            return f"{server}/artifacts/{study_id}/{storage.get_trial_id_from_study_id_trial_number(study_id, 0)}/{artifact_id}"

        try:
            for name in names:
                with urllib.request.urlopen(artifact_url(name, ids[name])) as answer:
                    assert answer.status == 200 and answer.read().decode() == f"the artifact of {name}"
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(artifact_url(gone.study_name, gone_id))
            assert missing.value.code == 404
            body = missing.value.read().decode()
            assert body.count("\n") == 1 and "is not on this machine" in body
        finally:
            dashboard.close()
    finally:
        if shared == "postgres":
            for name in (*names, gone.study_name):
                optuna.delete_study(study_name=name, storage=url)
