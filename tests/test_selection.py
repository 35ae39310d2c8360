"""subclass_weight="auto": the student chooses how much of the split to distil."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill._selection import (
    AUTO_CANDIDATES,
    AUTO_FALLBACK_WEIGHT,
    AUTO_FOLDS,
    AUTO_MARGIN,
    FOLD_TEACHERS,
    choose,
    scaled_log_loss,
)
from sklearn_subdistill._teachers import teacher_to_fit
from sklearn_subdistill.persistence import load, save

from .conftest import FAST

STUDENT = dict(FAST, hidden_layer_sizes=(16,), max_epochs=4)


@pytest.fixture(scope="module")
def auto_student(digits2, fitted_teacher):
    """A student that chose, on 300 labelled rows (no unlabelled ones)."""
    X_train, _, y_train, *_ = digits2
    y = y_train[:300].copy()
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight="auto", **STUDENT
    )
    return student.fit(X_train[:300], y), y


def test_auto_keeps_the_candidate_with_the_lowest_held_out_loss(auto_student):
    student, _ = auto_student
    scores = student.subclass_weight_scores_
    seen = {name: scores[name] for name in scores if not name.endswith(FOLD_TEACHERS)}
    # The default teacher's subclass distribution does not sum to its
    # predict_proba: every candidate is fitted.
    assert list(seen) == list(AUTO_CANDIDATES)
    assert all(np.isfinite(loss) and loss > 0 for loss in scores.values())
    # Fold teachers were fitted only where the teacher's scores kept a split.
    fresh = {
        name: scores[name + FOLD_TEACHERS]
        for name in seen
        if name + FOLD_TEACHERS in scores
    }
    assert bool(fresh) == (choose(seen) != "conventional")
    weight, _, class_mass = AUTO_CANDIDATES[choose(seen, fresh or None)]
    assert student.subclass_weight_ == weight
    assert student.class_mass_ == (class_mass or "subclasses")


def test_a_split_must_beat_conventional_by_the_margin():
    """The best split candidate, only where its log-loss is AUTO_MARGIN
    (relative) below conventional distillation's."""
    just_below = 1 - AUTO_MARGIN * 1.01
    just_above = 1 - AUTO_MARGIN * 0.99
    assert choose({"conventional": 1.0, "subclasses": just_below}) == "subclasses"
    assert choose({"conventional": 1.0, "subclasses": just_above}) == "conventional"
    scores = {"conventional": 1.0, "subclasses": 0.9, "predict_proba": 0.8}
    assert choose(scores) == "predict_proba"
    scores = {"conventional": 0.5, "subclasses": 0.9, "predict_proba": 0.8}
    assert choose(scores) == "conventional"


def test_a_split_must_beat_conventional_with_fold_teachers_too():
    """Given the fold teachers' scores, the teacher's choice of a split stands
    only where they choose a split by the margin too (any split: their
    ranking of the two is noisier)."""
    seen = {"conventional": 1.0, "subclasses": 0.9, "predict_proba": 0.95}
    keeps = {"conventional": 1.0, "subclasses": 1.0, "predict_proba": 0.9}
    vetoes = {"conventional": 1.0, "subclasses": 1 - AUTO_MARGIN * 0.99}
    assert choose(seen, keeps) == "subclasses"
    assert choose(seen, vetoes) == "conventional"
    # They cannot make a split of one the teacher's scores rejected.
    assert choose({"conventional": 1.0, "subclasses": 1.0}, keeps) == "conventional"


STUDENT_15 = dict(STUDENT, max_epochs=15)


@pytest.fixture(scope="module")
def seen_rows_student(digits2, fitted_teacher):
    """A student choosing on 300 rows its teacher was fitted on."""
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT_15
    )
    return student.fit(X_train[:300], y_train[:300])


def test_fold_teachers_check_a_split_favoured_on_rows_the_teacher_saw(
    seen_rows_student,
):
    """On rows it was fitted on, the teacher's split makes its students' held-
    out log-loss far lower than conventional distillation's; with teachers
    fitted without the held-out rows, it does not, and the split is not
    distilled."""
    scores = seen_rows_student.subclass_weight_scores_
    seen = {name: scores[name] for name in AUTO_CANDIDATES}
    fresh = {name: scores[name + FOLD_TEACHERS] for name in AUTO_CANDIDATES}
    # Margins far above float32 rounding: 0.16 against 0.24, 0.26 against 0.25.
    assert seen["subclasses"] < 0.8 * seen["conventional"]
    assert min(fresh["subclasses"], fresh["predict_proba"]) > fresh["conventional"]
    assert choose(seen, fresh) == "conventional"
    assert seen_rows_student.subclass_weight_ == 0.0
    assert seen_rows_student.n_subclasses_ == 1


def test_fold_teacher_scores_are_cross_validated_with_teachers_of_the_other_folds(
    seen_rows_student, digits2, fitted_teacher
):
    """Each fold's students distil a clone of the (frozen) teacher's estimator
    fitted on that fold's other rows."""
    X_train, _, y_train, *_ = digits2
    X, y = X_train[:300], y_train[:300]
    folds = StratifiedKFold(AUTO_FOLDS, shuffle=True, random_state=0).split(X, y)
    proba = np.empty((len(y), 2))
    for fit_rows, held in folds:
        teacher = clone(fitted_teacher).fit(X[fit_rows], y[fit_rows])
        model = SubclassDistilledStudent(
            teacher=FrozenEstimator(teacher), subclass_weight=1.0,
            **{**STUDENT_15, "temperature": 4.0},
        ).fit(X[fit_rows], y[fit_rows])  # fmt: skip
        proba[held] = model.predict_proba(X[held])
    expected = scaled_log_loss(y, proba, [0, 1])
    scores = seen_rows_student.subclass_weight_scores_
    assert scores["subclasses" + FOLD_TEACHERS] == pytest.approx(expected, rel=1e-9)


def test_a_student_fitting_its_teacher_keeps_a_split_both_scorings_keep(digits2):
    """An unfitted teacher: fitted on all labelled rows for the student, and
    on each fold's other rows for the check; the split is kept where both
    choose it."""
    X_train, _, y_train, *_ = digits2
    teacher = SubclassTeacherClassifier(n_subclasses=3, **FAST)
    student = SubclassDistilledStudent(teacher=teacher, **STUDENT_15)
    student.fit(X_train[:150], y_train[:150])
    scores = student.subclass_weight_scores_
    seen = {name: scores[name] for name in AUTO_CANDIDATES}
    fresh = {name: scores[name + FOLD_TEACHERS] for name in AUTO_CANDIDATES}
    assert choose(seen) == choose(fresh) == choose(seen, fresh) == "subclasses"
    assert student.subclass_weight_ == 1.0
    assert student.n_subclasses_ == 3
    assert teacher.__dict__.keys() == SubclassTeacherClassifier().__dict__.keys()


def test_fold_teachers_get_the_rows_weights(digits2, monkeypatch):
    """The fold teachers are fitted with their rows' sample weights, as the
    student's own teacher is."""
    X_train, _, y_train, *_ = digits2
    fits = []
    fit = SubclassTeacherClassifier.fit

    def recording_fit(self, X, y, sample_weight=None):
        fits.append((len(y), None if sample_weight is None else sample_weight.copy()))
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(SubclassTeacherClassifier, "fit", recording_fit)
    weight = np.linspace(0.5, 2.0, 150)
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(n_subclasses=3, **FAST), **STUDENT_15
    ).fit(X_train[:150], y_train[:150], sample_weight=weight)
    assert student.subclass_weight_scores_  # a split was checked: 1 + 4 fits
    assert len(fits) == 1 + AUTO_FOLDS
    assert_array_equal(fits[0][1], weight)
    held_out = set()
    for n_rows, row_weight in fits[1:]:
        assert n_rows == len(row_weight) < 150
        assert set(row_weight) <= set(weight)
        held_out |= set(weight) - set(row_weight)
    assert held_out == set(weight)  # every row was held out of one fold's teacher


def test_a_split_that_fold_teachers_cannot_check_is_not_distilled(
    digits2, fitted_teacher, monkeypatch
):
    """A class with fewer rows than folds leaves some fold's other rows
    without it; a teacher fitted there would not know the class, so the
    split is not checked and conventional distillation is kept."""
    from sklearn_subdistill import _selection

    X_train, _, y_train, *_ = digits2
    y = y_train[:120].copy()
    rare = np.flatnonzero(y == 1)
    y[rare[1:]] = 0  # one row of class 1
    X = X_train[:120]
    # Every split candidate is kept on the teacher's scores.
    monkeypatch.setattr(_selection, "AUTO_MARGIN", -10.0)
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    ).fit(X, y)
    scores = student.subclass_weight_scores_
    assert choose(scores) != "conventional"
    assert not any(name.endswith(FOLD_TEACHERS) for name in scores)
    assert student.subclass_weight_ == AUTO_FALLBACK_WEIGHT == 0.0
    # With every class in every fold's other rows, the same forced choice
    # is checked by fold teachers.
    checked = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    ).fit(X, y_train[:120])
    assert any(n.endswith(FOLD_TEACHERS) for n in checked.subclass_weight_scores_)
    assert checked.subclass_weight_ == 1.0


def test_the_default_teacher_to_fit_has_the_students_seed_and_device():
    student = SubclassDistilledStudent(random_state=3, device="cpu")
    teacher = teacher_to_fit(student)
    assert isinstance(teacher, SubclassTeacherClassifier)
    assert (teacher.random_state, teacher.device) == (3, "cpu")
    assert teacher_to_fit(SubclassDistilledStudent(teacher=teacher)) is teacher
    frozen = SubclassDistilledStudent(teacher=FrozenEstimator(teacher))
    assert teacher_to_fit(frozen) is None


def test_auto_is_the_fit_at_the_chosen_weight(auto_student, digits2, fitted_teacher):
    student, y = auto_student
    X_train, X_test, *_ = digits2
    fixed = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher),
        subclass_weight=student.subclass_weight_,
        class_mass=student.class_mass_,
        **STUDENT,
        temperature=4.0 if student.subclass_weight_ else 1.0,
    ).fit(X_train[:300], y)
    assert fixed.subclass_weight_ == student.subclass_weight_
    assert fixed.subclass_weight_scores_ == {}
    assert_array_equal(fixed.predict_proba(X_test), student.predict_proba(X_test))


def test_auto_scores_are_cross_validated_log_losses(
    auto_student, digits2, fitted_teacher
):
    """Each score is the temperature-scaled log-loss on the labelled rows,
    each row predicted by a student fitted at that candidate on the other
    folds (stratified, shuffled with the student's seed)."""
    student, y = auto_student
    X_train = digits2[0][:300]
    folds = StratifiedKFold(AUTO_FOLDS, shuffle=True, random_state=0).split(X_train, y)
    folds = list(folds)
    for name, (weight, temperature, class_mass) in AUTO_CANDIDATES.items():
        if not weight:
            continue
        proba = np.empty((len(y), 2))
        for fit_rows, held in folds:
            model = SubclassDistilledStudent(
                teacher=FrozenEstimator(fitted_teacher), subclass_weight=weight,
                class_mass=class_mass, **{**STUDENT, "temperature": temperature},
            ).fit(X_train[fit_rows], y[fit_rows])  # fmt: skip
            proba[held] = model.predict_proba(X_train[held])
        expected = scaled_log_loss(y, proba, [0, 1])
        assert student.subclass_weight_scores_[name] == pytest.approx(
            expected, rel=1e-9
        )
    # Temperature scaling can only lower the log-loss (temperature 1 is searched).
    assert expected <= log_loss(y, proba, labels=[0, 1]) + 1e-9


def test_scaled_log_loss_ignores_confidence():
    """Probabilities that rank the rows alike score alike, however confident."""
    y = np.array([0, 1, 0, 1, 1, 0])
    margin = np.array([-1.0, 0.5, 0.3, 1.2, -0.2, -0.8])  # imperfect ranking
    sharp, soft = (
        np.c_[1 - p, p] for p in (1 / (1 + np.exp(-3 * margin)),
                                  1 / (1 + np.exp(-margin / 2)))
    )  # fmt: skip
    assert log_loss(y, sharp) != pytest.approx(log_loss(y, soft), abs=1e-3)
    assert scaled_log_loss(y, sharp, [0, 1]) == pytest.approx(
        scaled_log_loss(y, soft, [0, 1]), abs=1e-4
    )


def test_transfer_rows_or_alpha_0_distil_conventionally(digits2, fitted_teacher):
    X_train, _, y_train, *_ = digits2
    y = y_train[:300].copy()
    y[100:] = -1
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), **STUDENT
    ).fit(X_train[:300], y)
    assert student.subclass_weight_ == AUTO_FALLBACK_WEIGHT == 0.0
    assert student.subclass_weight_scores_ == {}
    assert student.net_.criterion_.temperature == student.temperature
    labels_only = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), alpha=0.0, **STUDENT
    ).fit(X_train[:100], y_train[:100])
    assert labels_only.subclass_weight_ == 0.0
    assert labels_only.subclass_weight_scores_ == {}


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
    # Four labelled rows: too few for two rows per class in each fold.
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
    assert loaded.class_mass_ == student.class_mass_
    assert_array_equal(loaded.predict_proba(X_test), student.predict_proba(X_test))


def test_weight_0_distils_the_class_network(digits2, fitted_teacher):
    """Conventional distillation of the default teacher distils what it
    predicts (its class network, the 1-subclass twin's), not the class
    probabilities of the subclass distribution it exposes."""
    X_train, X_test, y_train, *_ = digits2
    twin = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **FAST)
    twin.fit(X_train, y_train)
    own = fitted_teacher.transform(X_test).reshape(len(X_test), 2, -1).sum(2)
    assert np.abs(own - fitted_teacher.predict_proba(X_test)).max() > 1e-3
    students = [
        SubclassDistilledStudent(
            teacher=FrozenEstimator(teacher), subclass_weight=0.0, **STUDENT
        ).fit(X_train[:300], y_train[:300])
        for teacher in (fitted_teacher, twin)
    ]
    assert students[0].n_subclasses_ == 1
    # The teachers' class probabilities agree to float32 rounding (the same
    # weights; tests/test_teacher.py), which a few epochs hardly amplify.
    assert_allclose(
        students[0].predict_proba(X_test), students[1].predict_proba(X_test), atol=1e-4
    )


def test_class_mass_predict_proba_splits_the_class_network(digits2, fitted_teacher):
    """class_mass="predict_proba": the student learns the teacher's
    predict_proba split as its subclass distribution splits each class."""
    X_train, X_test, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(fitted_teacher), subclass_weight=1.0,
        class_mass="predict_proba", **STUDENT,
    ).fit(X_train[:300], y_train[:300])  # fmt: skip
    (targets,) = student._extra_targets(X_test)
    proba = fitted_teacher.predict_proba(X_test)
    subclass = fitted_teacher.transform(X_test).reshape(len(X_test), 2, -1)
    expected = proba[:, :, None] * subclass / subclass.sum(2, keepdims=True)
    # float32 targets of float64 log-probabilities: 1e-6 relative
    assert_allclose(np.exp(targets), expected.reshape(len(X_test), -1), rtol=1e-5)
    assert_allclose(
        np.exp(targets).reshape(len(X_test), 2, -1).sum(2), proba, rtol=1e-5
    )


def test_a_teacher_whose_split_sums_to_its_classes_has_two_candidates(digits2):
    """The paper's teacher: both class masses give the same targets, so
    "auto" fits the one split candidate."""
    X_train, _, y_train, *_ = digits2
    paper = SubclassTeacherClassifier(
        n_subclasses=3, subclass_head="shared", **FAST
    ).fit(X_train, y_train)  # fmt: skip
    student = SubclassDistilledStudent(teacher=FrozenEstimator(paper), **STUDENT)
    student.fit(X_train[:300], y_train[:300])
    assert list(student.subclass_weight_scores_) == ["conventional", "subclasses"]
