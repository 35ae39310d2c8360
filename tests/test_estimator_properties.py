"""Properties of the fitted estimators (hypothesis), and determinism.

The loss functions' own properties are in ``test_properties.py``; these are
the estimators': probabilities that sum to one, and predictions that depend
neither on the order of the rows nor on the inference batch size.
"""

from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from joblib import parallel_config
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill import (
    _training_data as data_module,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
N_FEATURES = 5
FIT = dict(
    hidden_layer_sizes=(16,),
    max_epochs=8,
    lr=1e-2,
    batch_size=32,
    device="cpu",
    random_state=0,
)
# float32 arithmetic: results for a row may change in the last bits with its
# position in a batch (the kernels block rows differently).
TOL = dict(rtol=1e-5, atol=1e-7)


def _data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, N_FEATURES))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # 3 classes
    return X, y


@pytest.fixture(scope="module")
def models():
    X, y = _data()
    teacher = SubclassTeacherClassifier(n_subclasses=3, **FIT).fit(X, y)
    student = SubclassDistilledStudent(teacher=teacher, **FIT).fit(X, y)
    return {"teacher": teacher, "student": student}


def feature_rows(max_rows=40, bound=1e4):
    """Float64 inputs of shape (n, N_FEATURES), from tiny to large values."""
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return st.integers(1, max_rows).flatmap(
        lambda n: arrays(np.float64, (n, N_FEATURES), elements=elements)
    )


def _confident(proba, margin=1e-4):
    """Rows whose top class leads the runner-up by more than ``margin``."""
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0] > margin


@pytest.mark.parametrize("name", ["teacher", "student"])
@SETTINGS
@given(X=feature_rows())
# Found by hypothesis: a log-probability rounded a few ulps above 0 gave a
# probability just above 1.
@example(
    X=np.r_[
        np.full((6, N_FEATURES), -2989.11328125),
        [[-2989.11328125] * 4 + [-3873.02734375]],
    ]
)
def test_probabilities_sum_to_one(models, name, X):
    model = models[name]
    proba = model.predict_proba(X)
    subclass = model.transform(X)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_allclose(subclass.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    if getattr(model, "class_mass", None) != "subclass_network":
        # Each class's probability is the sum of its subclasses'. (A teacher
        # exposing its subclass network's own distribution: tests/test_teacher.py)
        blocks = subclass.reshape(len(X), len(model.classes_), model.n_subclasses_)
        assert_allclose(blocks.sum(axis=2), proba, rtol=1e-10, atol=1e-12)
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("name", ["teacher", "student"])
@SETTINGS
@given(data=st.data())
def test_predictions_do_not_depend_on_row_order(models, name, data):
    model = models[name]
    X = data.draw(feature_rows(bound=10.0))
    order = np.asarray(data.draw(st.permutations(range(len(X)))), dtype=int)
    proba = model.predict_proba(X)
    shuffled = model.predict_proba(X[order])
    assert_allclose(shuffled, proba[order], **TOL)
    assert_allclose(model.transform(X[order]), model.transform(X)[order], **TOL)
    sure = _confident(proba[order])
    assert_array_equal(model.predict(X[order])[sure], model.predict(X)[order][sure])


@pytest.mark.parametrize("name", ["teacher", "student"])
@SETTINGS
@given(X=feature_rows(bound=10.0), batch_size=st.integers(1, 45))
def test_predictions_do_not_depend_on_inference_batch_size(models, name, X, batch_size):
    model = models[name]
    expected = model.predict_proba(X)  # one batch of INFERENCE_BATCH_SIZE rows
    expected_subclass = model.predict_subclass_log_proba(X)
    with mock.patch.object(data_module, "INFERENCE_BATCH_SIZE", batch_size):
        proba = model.predict_proba(X)
        log_subclass = model.predict_subclass_log_proba(X)
        predicted = model.predict(X)
    assert_allclose(proba, expected, **TOL)
    assert_allclose(log_subclass, expected_subclass, rtol=1e-5, atol=1e-5)
    sure = _confident(expected)
    assert_array_equal(predicted[sure], model.classes_[expected.argmax(1)][sure])


def test_inference_batch_size_is_read_at_call_time(models):
    model = models["teacher"]
    X, _ = _data(n=10, seed=1)
    seen = []
    step = model.net_.evaluation_step

    def spy(batch, **kwargs):
        seen.append(len(batch[0]))
        return step(batch, **kwargs)

    with (
        mock.patch.object(data_module, "INFERENCE_BATCH_SIZE", 4),
        mock.patch.object(model.net_, "evaluation_step", spy),
    ):
        model.predict_proba(X)
    assert seen == [4, 4, 2]


# -- determinism ---------------------------------------------------------------


def _state(model):
    return {k: v.clone() for k, v in model.net_.module_.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_student_including_its_teacher():
    X, y = _data(n=150)

    def fit(seed):
        return SubclassDistilledStudent(
            teacher=SubclassTeacherClassifier(n_subclasses=2, **FIT),
            **{**FIT, "max_epochs": 3, "random_state": seed},
        ).fit(X, y)

    a, b, c = fit(0), fit(0), fit(1)
    assert _same(_state(a), _state(b))
    assert _same(_state(a.teacher_), _state(b.teacher_))
    assert_array_equal(a.transform(X), b.transform(X))
    assert not _same(_state(a), _state(c))


def weights_checksum(estimator, X, y):
    """A scorer that fingerprints the fitted weights (equal weights, equal sum)."""
    flat = torch.cat(
        [p.detach().flatten() for p in estimator.net_.module_.parameters()]
    )
    return float((flat.double() * torch.arange(1, len(flat) + 1)).sum())


@pytest.fixture
def one_thread():
    """One torch thread here and in joblib's workers.

    Bit-for-bit equality needs the same number of threads on both sides:
    kernels split their sums differently over a different number of threads,
    and joblib gives each worker ``cpu_count // n_jobs`` threads by default.
    """
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with parallel_config(backend="loky", inner_max_num_threads=1):
        yield
    torch.set_num_threads(n_threads)


def test_same_seed_same_models_under_parallel_grid_search(one_thread):
    X, y = _data(n=150)
    # Four settings that train four different networks (with n_subclasses=1
    # the information loss is 0, so aux_weight would change nothing).
    grid = {"n_subclasses": [2, 3], "aux_weight": [0.5, 1.0]}
    scoring = {"accuracy": "accuracy", "weights": weights_checksum}

    def search(n_jobs):
        estimator = SubclassTeacherClassifier(**{**FIT, "max_epochs": 3})
        return GridSearchCV(
            estimator, grid, cv=2, n_jobs=n_jobs, scoring=scoring, refit="accuracy"
        ).fit(X, y)

    serial, parallel = search(1), search(2)
    # Every model trained in the worker processes is the one trained here.
    for key in ("split0_test_weights", "split1_test_weights", "mean_test_accuracy"):
        assert list(parallel.cv_results_[key]) == list(serial.cv_results_[key])
    assert len(set(serial.cv_results_["split0_test_weights"])) == 4
    assert serial.best_params_ == parallel.best_params_
    assert _same(_state(serial.best_estimator_), _state(parallel.best_estimator_))
