"""Hyperparameter search spread over a real Dask cluster (two worker processes)."""

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.model_selection import GridSearchCV

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier

from .conftest import FAST

distributed = pytest.importorskip(
    "distributed", reason="the dask extra is not installed: pip install -e '.[dask]'"
)

GRID = {"teacher__n_subclasses": [1, 3], "temperature": [1.0, 4.0]}


def _search():
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(**{**FAST, "max_epochs": 3}),
        **{**FAST, "hidden_layer_sizes": (8,), "max_epochs": 3},
    )
    return GridSearchCV(student, GRID, cv=2, n_jobs=-1)


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_grid_search_on_dask_matches_local(cluster, digits2):
    X_train, X_test, y_train, *_ = digits2
    X_small, y_small = X_train[:400], y_train[:400]
    local = _search().fit(X_small, y_small)
    with distributed.get_task_stream(cluster) as stream:
        with joblib.parallel_backend("dask"):
            remote = _search().fit(X_small, y_small)
    # The candidates ran as tasks on both worker processes.
    assert len({task["worker"] for task in stream.data}) == 2
    assert remote.best_params_ == local.best_params_
    assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert_array_equal(remote.predict_proba(X_test), local.predict_proba(X_test))
    assert np.isfinite(remote.best_score_)
