"""subclass_weight="auto": the student chooses how much of the split to distil."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassDistilledStudent
from sklearn_subdistill._selection import (
    AUTO_FALLBACK_WEIGHT,
    AUTO_SUBCLASS_WEIGHTS,
    AUTO_VALIDATION_FRACTION,
)
from sklearn_subdistill.persistence import load, save

from .conftest import FAST

STUDENT = dict(FAST, hidden_layer_sizes=(16,), max_epochs=4)


@pytest.fixture(scope="module")
def auto_student(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    y = y_train.copy()
    y[150:] = -1  # the rest unlabelled
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight="auto", **STUDENT
    )
    return student.fit(X_train[:600], y[:600]), y[:600]


def test_auto_keeps_the_candidate_with_the_lowest_held_out_loss(auto_student):
    student, _ = auto_student
    scores = student.subclass_weight_scores_
    assert set(scores) == set(AUTO_SUBCLASS_WEIGHTS)
    assert all(np.isfinite(loss) and loss > 0 for loss in scores.values())
    assert student.subclass_weight_ == min(scores, key=scores.get)


def test_auto_is_the_fit_at_the_chosen_weight(auto_student, digits2, fitted_teacher):
    student, y = auto_student
    X_train, X_test, *_ = digits2
    fixed = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher),
        subclass_weight=student.subclass_weight_,
        **STUDENT,
    ).fit(X_train[:600], y)
    assert fixed.subclass_weight_ == student.subclass_weight_
    assert fixed.subclass_weight_scores_ == {}
    assert_array_equal(fixed.predict_proba(X_test), student.predict_proba(X_test))


def test_auto_scores_are_held_out_log_losses(auto_student, digits2, fitted_teacher):
    """Each score is the log-loss, on a quarter of the labelled rows, of a
    student fitted on the other rows at that weight."""
    student, y = auto_student
    X_train = digits2[0][:600]
    labelled = np.flatnonzero(y != -1)
    n_held = int(np.ceil(AUTO_VALIDATION_FRACTION * len(labelled)))
    _, held = train_test_split(
        np.arange(len(labelled)), test_size=n_held, random_state=0,
        stratify=y[labelled],
    )  # fmt: skip
    keep = np.ones(len(y), dtype=bool)
    keep[labelled[held]] = False
    weight = AUTO_SUBCLASS_WEIGHTS[-1]
    model = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight=weight, **STUDENT
    ).fit(X_train[keep], y[keep])
    expected = log_loss(
        y[labelled[held]], model.predict_proba(X_train[labelled[held]]), labels=[0, 1]
    )
    assert student.subclass_weight_scores_[weight] == pytest.approx(expected, rel=1e-12)


def test_auto_does_not_modify_the_input(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    X, y = X_train[:200].copy(), y_train[:200].copy()
    y[100:] = -1
    X_before, y_before = X.copy(), y.copy()
    SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight="auto", **STUDENT
    ).fit(X, y)
    assert_array_equal(X, X_before)
    assert_array_equal(y, y_before)


def test_auto_without_a_split_or_without_rows_to_hold_out(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    plain = LogisticRegression().fit(X_train, y_train)
    student = SubclassDistilledStudent(teacher=FrozenEstimator(plain), **STUDENT)
    student.fit(X_train[:200], y_train[:200])
    assert student.subclass_weight == "auto"  # the default
    assert student.subclass_weight_ == 0.0
    assert student.subclass_weight_scores_ == {}
    # Four labelled rows: too few to hold any out for two classes.
    y = np.full(200, -1)
    y[:4] = [0, 1, 0, 1]
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    ).fit(X_train[:200], y)
    assert student.subclass_weight_ == AUTO_FALLBACK_WEIGHT
    assert student.subclass_weight_scores_ == {}


def test_partial_fit_takes_the_fallback_then_keeps_it(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    )
    student.partial_fit(X_train[:100], y_train[:100])
    assert student.subclass_weight_ == AUTO_FALLBACK_WEIGHT
    student.partial_fit(X_train[100:200], y_train[100:200])
    assert student.subclass_weight_ == AUTO_FALLBACK_WEIGHT
    assert student.n_iter_ == 2


def test_a_number_is_used_as_it_is(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight=0.5, **STUDENT
    ).fit(X_train[:200], y_train[:200])
    assert student.subclass_weight_ == 0.5
    assert student.net_.criterion_.subclass_weight == 0.5


def test_bad_subclass_weight_is_refused_before_training():
    student = SubclassDistilledStudent(subclass_weight="best")
    with pytest.raises(ValueError, match="subclass_weight"):
        student.fit(np.zeros((10, 2)), np.arange(10) % 2)


def test_the_choice_survives_save_and_load(auto_student, digits2, tmp_path):
    student, _ = auto_student
    X_test = digits2[1]
    path = tmp_path / "student.pt"
    save(student, path)
    loaded = load(path)
    assert loaded.subclass_weight_ == student.subclass_weight_
    assert loaded.subclass_weight_scores_ == student.subclass_weight_scores_
    assert_array_equal(loaded.predict_proba(X_test), student.predict_proba(X_test))
