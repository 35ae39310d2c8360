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


# -- Dask-ML: partial_fit block by block, and Hyperband ---------------------------

dask_ml = pytest.importorskip(
    "dask_ml", reason="the dask extra is not installed: pip install -e '.[dask]'"
)


def test_incremental_trains_block_by_block_on_the_cluster(cluster, digits2):
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X_train, X_test, y_train, y_test, *_ = digits2
    X = da.from_array(X_train, chunks=(200, X_train.shape[1]))
    y = da.from_array(y_train, chunks=200)
    teacher = SubclassTeacherClassifier(**{**FAST, "n_subclasses": 2})
    model = Incremental(teacher, scoring="accuracy").fit(X, y, classes=[0, 1])
    # One epoch per block, in order, on one network; partial_fit goes on.
    assert model.estimator_.n_iter_ == X.numblocks[0]
    model.partial_fit(X, y).partial_fit(X, y)
    fitted = model.estimator_
    assert fitted.n_iter_ == 3 * X.numblocks[0] == len(fitted.history_)
    # Learnt from the blocks: far above chance (0.5). Not a quality bar: three
    # epochs on workers whose float rounding varies from run to run scored
    # 0.84 to above 0.85, close to any bar set there.
    assert model.score(X_test, y_test) > 0.75


def _dask_too_new_for_hyperband():
    """dask-ml 2025.1's HyperbandSearchCV needs dask < 2025.3 (see pyproject.toml)."""
    import dask
    from packaging.version import Version

    return Version(dask.__version__) >= Version("2025.3")


@pytest.mark.skipif(
    _dask_too_new_for_hyperband(),
    reason="dask >= 2025.3 refuses dask-ml 2025.1's dask.persist inside its "
    "asynchronous fit; the dask extra pins dask < 2025.3: pip install -e '.[dask]'",
)
@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_hyperband_search_trains_on_the_cluster(kind, cluster, digits2):
    import dask.array as da
    from dask_ml.model_selection import HyperbandSearchCV

    X_train, X_test, y_train, y_test, *_ = digits2
    X = da.from_array(X_train[:800], chunks=(200, X_train.shape[1]))
    y = da.from_array(y_train[:800], chunks=200)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "lr": [1e-3, 1e-2]}
    if kind == "teacher":
        model = SubclassTeacherClassifier(**{**FAST, "n_subclasses": 2})
        params, fit_params = {"aux_weight": [0.0, 1.0], **grid}, {"classes": [0, 1]}
    else:
        teacher = SubclassTeacherClassifier(**{**FAST, "max_epochs": 3})
        model = SubclassDistilledStudent(teacher=teacher, **FAST)
        params, fit_params = {"teacher__aux_weight": [0.0, 1.0], **grid}, {}
    search = HyperbandSearchCV(model, params, max_iter=9, random_state=0)
    with distributed.get_task_stream(cluster) as stream:
        search.fit(X, y, **fit_params)
    assert len({task["worker"] for task in stream.data}) == 2
    assert set(search.best_params_) == set(params)
    # Each partial_fit call Hyperband made is one epoch of the best network.
    calls = search.cv_results_["partial_fit_calls"][search.best_index_]
    assert search.best_estimator_.n_iter_ == calls
    assert search.metadata_["partial_fit_calls"] > calls  # others were stopped
    assert search.score(X_test, y_test) > 0.8
