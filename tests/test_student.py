"""SubclassDistilledStudent: teachers of every kind, transfer data, distillation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.svm import LinearSVC

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.losses import (
    class_logits,
    distillation_loss,
    subclass_distillation_loss,
)

from .conftest import FAST

STUDENT = dict(FAST, hidden_layer_sizes=(16,))


def _weights(estimator):
    return [p.detach().clone() for p in estimator.net_.module_.parameters()]


def test_default_teacher_is_fitted_inside(digits2):
    X_train, X_test, y_train, *_ = digits2
    student = SubclassDistilledStudent(**{**STUDENT, "max_epochs": 3})
    student.fit(X_train[:300], y_train[:300])
    assert student.teacher is None
    assert isinstance(student.teacher_, SubclassTeacherClassifier)
    assert student.teacher_.n_subclasses_ == 10
    # "auto" kept the split (the teacher's 2 x 10 subclasses) or distilled the
    # class probabilities alone (one output per class).
    n_subclasses = 10 if student.subclass_weight_ else 1
    assert student.n_subclasses_ == n_subclasses
    assert student.transform(X_test).shape == (len(X_test), 2 * n_subclasses)
    assert student.predict_proba(X_test).shape == (len(X_test), 2)


def test_unfitted_teacher_is_cloned_and_fitted(digits2, fitted_teacher):
    X_train, X_test, y_train, y_test, *_ = digits2
    teacher = SubclassTeacherClassifier(n_subclasses=2, **FAST)
    student = SubclassDistilledStudent(teacher=teacher, subclass_weight=1.0, **STUDENT)
    student.fit(X_train, y_train)
    assert not hasattr(teacher, "net_")
    assert student.teacher_ is not teacher
    assert student.n_subclasses_ == 2
    assert student.score(X_test, y_test) > 0.9
    names = student.get_feature_names_out()
    assert list(names) == [
        "subclass_0_0",
        "subclass_0_1",
        "subclass_1_0",
        "subclass_1_1",
    ]
    sub = student.transform(X_test)
    assert_array_equal(student.predict_subclass(X_test), sub.argmax(1))
    assert_allclose(sub.reshape(-1, 2, 2).sum(2), student.predict_proba(X_test))


def test_frozen_teacher_never_refitted_by_grid_search(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    before = _weights(fitted_teacher)
    frozen = FrozenEstimator(fitted_teacher)
    search = GridSearchCV(
        SubclassDistilledStudent(teacher=frozen, **{**STUDENT, "max_epochs": 3}),
        {"temperature": [1.0, 4.0], "alpha": [0.5, 0.9]},
        cv=2,
    ).fit(X_train, y_train)
    assert search.best_estimator_.teacher_ is frozen
    assert search.best_estimator_.teacher_.estimator is fitted_teacher
    after = _weights(fitted_teacher)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert search.best_estimator_.n_subclasses_ == fitted_teacher.n_subclasses_


def test_teacher_params_tuned_through_grid_search(digits2):
    X_train, _, y_train, *_ = digits2
    search = GridSearchCV(
        SubclassDistilledStudent(
            teacher=SubclassTeacherClassifier(**{**FAST, "max_epochs": 3}),
            subclass_weight=1.0,  # the split distilled: the student mirrors it
            **{**STUDENT, "max_epochs": 3},
        ),
        {"teacher__n_subclasses": [1, 3], "alpha": [0.5]},
        cv=2,
    ).fit(X_train, y_train)
    assert list(search.cv_results_["param_teacher__n_subclasses"]) == [1, 3]
    best = search.best_estimator_
    assert best.teacher_.n_subclasses_ == best.teacher.n_subclasses
    assert best.transform(X_train[:5]).shape == (5, 2 * best.teacher.n_subclasses)


def test_unlabelled_rows_are_used(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    y_semi = y_train.copy()
    y_semi[100:] = -1
    frozen = FrozenEstimator(fitted_teacher)
    params = {**STUDENT, "subclass_weight": 1.0}  # both students mirror the split
    semi = SubclassDistilledStudent(teacher=frozen, **params).fit(X_train, y_semi)
    assert_array_equal(semi.classes_, [0, 1])
    assert sum(semi.history_[-1, "batches", :, "train_batch_size"]) == len(X_train)
    labelled_only = SubclassDistilledStudent(teacher=frozen, **params).fit(
        X_train[:100], y_train[:100]
    )
    assert not np.allclose(
        semi.transform(X_train[:20]), labelled_only.transform(X_train[:20])
    )


def test_fit_without_labels_needs_a_fitted_teacher(digits2, fitted_teacher):
    X_train, X_test, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    )
    student.fit(X_train)
    assert_array_equal(student.classes_, fitted_teacher.classes_)
    agreement = np.mean(student.predict(X_test) == fitted_teacher.predict(X_test))
    assert agreement > 0.9
    with pytest.raises(ValueError, match="requires y to be passed"):
        SubclassDistilledStudent(**STUDENT).fit(X_train)
    with pytest.raises(ValueError, match="requires y to be passed"):
        SubclassDistilledStudent(**STUDENT).fit(X_train, np.full(len(X_train), -1))


def test_gradient_boosting_teacher(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    teacher = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    student = SubclassDistilledStudent(teacher=teacher, temperature=2.0, **STUDENT)
    student.fit(X_train, y_train)
    assert isinstance(student.teacher_, HistGradientBoostingClassifier)
    assert student.n_subclasses_ == 1
    assert student.transform(X_test).shape == (len(X_test), 2)
    assert_allclose(student.transform(X_test), student.predict_proba(X_test))
    assert student.score(X_test, y_test) > 0.9


def test_teacher_without_predict_proba_is_an_error(digits2):
    X_train, _, y_train, *_ = digits2
    with pytest.raises(ValueError, match=r"teacher.*predict_proba"):
        SubclassDistilledStudent(teacher=LinearSVC(), **STUDENT).fit(X_train, y_train)


def test_teacher_disagreeing_with_data_is_an_error(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    frozen = FrozenEstimator(fitted_teacher)
    with pytest.raises(ValueError, match="64 features but X has 10"):
        SubclassDistilledStudent(teacher=frozen, **STUDENT).fit(
            X_train[:, :10], y_train
        )
    with pytest.raises(ValueError, match="labels the teacher does not know: \\[7\\]"):
        SubclassDistilledStudent(teacher=frozen, **STUDENT).fit(
            X_train, np.where(y_train == 1, 7, 0)
        )


def test_minus_one_as_only_other_class_gets_a_clear_error(digits2):
    X_train, _, y_train, *_ = digits2
    y_pm = np.where(y_train == 1, 1, -1)
    with pytest.raises(ValueError, match=r"unlabelled .*relabel"):
        SubclassDistilledStudent(**STUDENT).fit(X_train, y_pm)


def test_string_labels(digits2):
    X_train, X_test, y_train, *_ = digits2
    names = np.array(["small", "large"])[y_train]
    student = SubclassDistilledStudent(
        teacher=LogisticRegression(max_iter=500), **STUDENT
    ).fit(X_train, names)
    assert_array_equal(student.classes_, ["large", "small"])
    assert set(student.predict(X_test)) <= {"large", "small"}


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_loss_is_conventional_distillation(digits2, alpha, temperature):
    """With one subclass, the student's loss is Hinton et al.'s, on a real batch."""
    X_train, _, y_train, *_ = digits2
    teacher = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **FAST)
    student = SubclassDistilledStudent(
        teacher=teacher, alpha=alpha, temperature=temperature, **STUDENT
    ).fit(X_train, y_train)
    X_batch = torch.as_tensor(X_train[:64])
    labels = torch.tensor(y_train[:64])  # a copy: the fixture is shared
    labels[::4] = -1  # some unlabelled rows
    teacher_logits = torch.as_tensor(
        student.teacher_.predict_subclass_log_proba(X_train[:64]), dtype=torch.float32
    )
    logits = student.net_.module_(X_batch)
    loss = student.net_.get_loss(logits, (labels, teacher_logits))

    kd = distillation_loss(logits, teacher_logits, temperature, reduction="none")
    ce = F.cross_entropy(class_logits(logits, 2), labels.clamp(min=0), reduction="none")
    expected = (alpha * kd + (1 - alpha) * ce * (labels >= 0)).mean()
    assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    if alpha == 1.0:
        assert_allclose(
            loss.item(),
            distillation_loss(logits, teacher_logits, temperature).item(),
            rtol=1e-6,
        )


def test_weight_0_is_conventional_distillation(digits2, fitted_teacher):
    """Without the split, one output per class learns the teacher's class
    log-probabilities: conventional distillation."""
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight=0.0,
        **{**STUDENT, "max_epochs": 1},
    ).fit(X_train, y_train)  # fmt: skip
    assert student.n_subclasses_ == 1
    assert student.transform(X_train[:5]).shape == (5, 2)
    (targets,) = student._extra_targets(X_train[:64])
    assert_allclose(
        np.exp(targets), fitted_teacher.predict_proba(X_train[:64]), rtol=1e-5
    )


@pytest.mark.parametrize("subclass_weight", [0.3, 1.0])
def test_loss_weighs_the_teacher_split(digits2, fitted_teacher, subclass_weight):
    """With subclasses, the distillation term weighs the within-class split."""
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight=subclass_weight,
        **{**STUDENT, "max_epochs": 1},
    ).fit(X_train, y_train)  # fmt: skip
    X_batch = torch.as_tensor(X_train[:64])
    labels = torch.tensor(y_train[:64])
    teacher_logits = torch.as_tensor(
        fitted_teacher.predict_subclass_log_proba(X_train[:64]), dtype=torch.float32
    )
    logits = student.net_.module_(X_batch)
    loss = student.net_.get_loss(logits, (labels, teacher_logits))
    kd = subclass_distillation_loss(
        logits, teacher_logits, 2, 1.0, subclass_weight, reduction="none"
    )
    ce = F.cross_entropy(class_logits(logits, 2), labels, reduction="none")
    assert_allclose(loss.item(), (0.5 * kd + 0.5 * ce).mean().item(), rtol=1e-5)
    if subclass_weight == 1.0:  # the paper's loss
        expected = distillation_loss(logits, teacher_logits, 1.0, reduction="none")
        assert_allclose(
            loss.item(), (0.5 * expected + 0.5 * ce).mean().item(), rtol=1e-5
        )


def test_subclass_weight_is_ignored_without_subclasses(digits2):
    X_train, X_test, y_train, *_ = digits2
    teacher = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **FAST)
    teacher.fit(X_train, y_train)
    probas = [
        SubclassDistilledStudent(
            teacher=FrozenEstimator(teacher), subclass_weight=w, **STUDENT
        ).fit(X_train, y_train).predict_proba(X_test)
        for w in (0.3, 1.0)
    ]  # fmt: skip
    assert_array_equal(probas[0], probas[1])


def test_reproducible(digits2, fitted_teacher):
    X_train, X_test, y_train, *_ = digits2
    frozen = FrozenEstimator(fitted_teacher)
    a = SubclassDistilledStudent(teacher=frozen, **STUDENT).fit(X_train, y_train)
    b = SubclassDistilledStudent(teacher=frozen, **STUDENT).fit(X_train, y_train)
    assert_array_equal(a.transform(X_test), b.transform(X_test))


def test_transfer_rows_beat_labels_alone(digits2):
    """Acceptance: a small student with 100 labels plus unlabelled transfer rows
    beats the same network trained, to convergence, on the 100 labels alone.

    The paper's protocol: the teacher knows more than the student (all the
    training labels)."""
    X_train, X_test, y_train, y_test, *_ = digits2
    rng = np.random.RandomState(0)
    labelled = np.zeros(len(y_train), dtype=bool)
    labelled[rng.choice(len(y_train), 100, replace=False)] = True
    y_semi = np.where(labelled, y_train, -1)
    net = dict(hidden_layer_sizes=(16,), device="cpu", random_state=0)

    teacher = SubclassTeacherClassifier(max_epochs=40, device="cpu", random_state=0)
    teacher.fit(X_train, y_train)
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), temperature=1.0, max_epochs=100, **net
    ).fit(X_train, y_semi)
    # Labels only: alpha=0 ignores the teacher; 1000 epochs of 100 rows give it
    # more optimiser steps than the student's 100 epochs of 1257 rows.
    labels_only = SubclassDistilledStudent(
        teacher=LogisticRegression(), alpha=0.0, max_epochs=1000, **net
    ).fit(X_train[labelled], y_train[labelled])
    assert student.score(X_test, y_test) > labels_only.score(X_test, y_test) + 0.01
