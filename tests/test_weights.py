"""Sample and class weights, warm_start and partial_fit, the progress bar."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import make_clickthrough
from sklearn_subdistill.losses import (
    subclass_auxiliary_loss,
    within_class_auxiliary_loss,
)

from .conftest import FAST

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: One batch holds every row, repeated or not: the same steps either way.
FULL_BATCH = dict(FAST, max_epochs=10, batch_size=512, n_subclasses=2)


@pytest.fixture(scope="module")
def small():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    weight = rng.randint(0, 4, size=len(y))
    return X, y, weight


def _teacher(**params):
    return SubclassTeacherClassifier(**{**FULL_BATCH, **params})


def _student(teacher=None, **params):
    student_params = {k: v for k, v in FULL_BATCH.items() if k != "n_subclasses"}
    return SubclassDistilledStudent(
        teacher=_teacher() if teacher is None else teacher,
        **{**student_params, "hidden_layer_sizes": (8,)},
        **params,
    )


@pytest.mark.parametrize("precision, atol", [("fp32", 1e-5), ("fp64", 1e-10)])
@pytest.mark.parametrize(
    "make",
    [
        _teacher,
        lambda **p: _teacher(subclass_head="shared", **p),
        lambda **p: _student(teacher=_teacher(**p), **p),
    ],
    ids=["teacher", "shared", "student"],
)
def test_integer_weights_equal_repeated_rows(make, precision, atol, small):
    # With one batch per epoch, weighted and repeated fits take the same steps;
    # sums in another order leave differences in the last bits: ~1e-7 in
    # float32, ~1e-15 in float64 (why tests/test_common.py trains in float64).
    # With smaller batches they differ more: repeated rows make more batches
    # per epoch (more optimizer steps), and shuffling draws other batches.
    X, y, weight = small
    repeated = make(precision=precision).fit(X.repeat(weight, axis=0), y.repeat(weight))
    Xs, ys, ws = shuffle(X, y, weight, random_state=0)
    weighted = make(precision=precision).fit(Xs, ys, sample_weight=ws)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=atol)
    assert_allclose(weighted.transform(X), repeated.transform(X), atol=atol)


def test_fp64_weights_reach_the_loss_unrounded(small):
    # In float64 a weight like 1/3 is not rounded to float32 on its way to the
    # loss: scaling every weight by the same factor changes nothing.
    X, y, weight = small
    weight = weight / 3
    thirds = _teacher(precision="fp64").fit(X, y, sample_weight=weight)
    whole = _teacher(precision="fp64").fit(X, y, sample_weight=3 * weight)
    # float32 weights would leave ~1e-8 relative differences in the losses.
    losses = [model.history_[:, "train_loss"] for model in (thirds, whole)]
    assert_allclose(*losses, rtol=1e-12)
    assert_allclose(thirds.predict_proba(X), whole.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("scope", ["all", "within"])
def test_weighted_auxiliary_loss_equals_repeated_rows(scope):
    # aux_scope="within" is checked on the loss alone: its fits are chaotic on
    # such small data (shuffling the repeated rows alone moves the subclasses).
    torch.manual_seed(0)
    z, y = torch.randn(7, 4), torch.tensor([0, 0, 1, 1, 1, 0, 1])
    weight = torch.tensor([1.0, 2, 3, 1, 2, 1, 0])
    rows = torch.repeat_interleave(torch.arange(7), weight.long())
    if scope == "all":
        expected = subclass_auxiliary_loss(z[rows])
        got = subclass_auxiliary_loss(z, sample_weight=weight)
        scaled = subclass_auxiliary_loss(z, sample_weight=2.5 * weight)
    else:
        expected = within_class_auxiliary_loss(z[rows], y[rows], 2)
        got = within_class_auxiliary_loss(z, y, 2, sample_weight=weight)
        scaled = within_class_auxiliary_loss(z, y, 2, sample_weight=2.5 * weight)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(scaled, expected)


def test_zero_weight_is_a_dropped_row(small):
    X, y, weight = small
    kept = weight > 0
    # Any batch size: rows of weight 0 are dropped before batching.
    params = dict(batch_size=16, max_epochs=3)
    dropped = _teacher(**params).fit(X[kept], y[kept])
    zeroed = _teacher(**params).fit(X, y, sample_weight=kept.astype(float))
    assert_array_equal(zeroed.predict_proba(X), dropped.predict_proba(X))
    assert zeroed.history_[:, "train_loss"] == dropped.history_[:, "train_loss"]


def test_unit_weights_change_nothing(small):
    X, y, _ = small
    plain = _teacher(max_epochs=2).fit(X, y)
    ones = _teacher(max_epochs=2).fit(X, y, sample_weight=np.ones(len(y)))
    assert_array_equal(ones.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize(
    "weight, message",
    [
        (-1.0, "Negative values"),
        (np.nan, "NaN"),
        (np.inf, "infinity"),
        (0.0, "at least one non-zero"),
    ],
)
def test_bad_weights_fail_before_training(small, weight, message):
    X, y, _ = small
    sample_weight = np.ones(len(y)) if weight else np.zeros(len(y))
    sample_weight[0] = weight
    for model in (_teacher(), _student()):
        with pytest.raises(ValueError, match=message):
            model.fit(X, y, sample_weight=sample_weight)
        assert not hasattr(model, "net_")


def test_weights_of_streams_are_refused(small):
    X, y, _ = small
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    with pytest.raises(ValueError, match="sample_weight is supported when X is an"):
        _teacher().fit(dataset, sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="class_weight is supported when X is an"):
        _teacher(class_weight="balanced").fit(dataset)


def test_class_weight_dict_equals_sample_weight(small):
    X, y, _ = small
    by_class = _teacher(class_weight={0: 1.0, 1: 3.0}).fit(X, y)
    by_row = _teacher().fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    assert_allclose(by_class.predict_proba(X), by_row.predict_proba(X), atol=1e-6)


def test_balanced_class_weight_raises_minority_recall():
    X, y, _ = make_clickthrough(n_samples=4000, positive_rate=0.05, random_state=0)
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0
    )
    params = dict(FAST, max_epochs=10, batch_size=128)
    recall = {}
    for class_weight in (None, "balanced"):
        for make in (SubclassTeacherClassifier, SubclassDistilledStudent):
            # A fixed split weight: "auto" chooses by held-out log-loss, which
            # class weights do not enter.
            extra = {
                "teacher": SubclassTeacherClassifier(**params),
                "subclass_weight": 0.3,
            }
            model = make(
                class_weight=class_weight,
                **params,
                **(extra if make is SubclassDistilledStudent else {}),
            ).fit(X_train, y_train)
            recall[make.__name__, class_weight] = recall_score(
                y_test, model.predict(X_test)
            )
    for name in ("SubclassTeacherClassifier", "SubclassDistilledStudent"):
        assert recall[name, "balanced"] > recall[name, None] + 0.2, recall


def test_student_passes_weights_to_its_teacher(small):
    X, y, weight = small
    student = _student().fit(X, y, sample_weight=weight)
    teacher = _teacher().fit(X, y, sample_weight=weight)
    assert_array_equal(student.teacher_.predict_proba(X), teacher.predict_proba(X))


# -- warm_start and partial_fit ---------------------------------------------------


def test_warm_start_continues_training(small):
    X, y, _ = small
    model = _teacher(max_epochs=3, warm_start=True, batch_size=16).fit(X, y)
    weights = [p.detach().clone() for p in model.net_.module_.parameters()]
    optimizer = model.net_.optimizer_
    steps = optimizer.state[next(iter(optimizer.state))]["step"].item()
    model.fit(X, y)
    assert model.n_iter_ == 6 == len(model.history_)
    assert [row["epoch"] for row in model.history_] == list(range(1, 7))
    # The same optimizer (its Adam state went on counting) and moved weights.
    assert model.net_.optimizer_ is optimizer
    assert optimizer.state[next(iter(optimizer.state))]["step"].item() == 2 * steps
    moved = [p for p in model.net_.module_.parameters()]
    assert not all(
        np.allclose(a, b.detach()) for a, b in zip(weights, moved, strict=True)
    )
    # Without warm_start, fit starts over.
    model.set_params(warm_start=False).fit(X, y)
    assert model.n_iter_ == 3


def test_warm_start_refuses_another_network(small):
    X, y, _ = small
    model = _teacher(max_epochs=1, warm_start=True).fit(X, y)
    model.set_params(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="another module"):
        model.fit(X, y)
    model.set_params(hidden_layer_sizes=FULL_BATCH["hidden_layer_sizes"], lr=1e-3)
    model.fit(X, y)  # a new learning rate is fine
    assert model.net_.optimizer_.param_groups[0]["lr"] == 1e-3


@pytest.mark.parametrize("head", ["separate", "shared"])
@pytest.mark.parametrize("continued_by", ["warm_start", "partial_fit"])
def test_continuing_refuses_another_number_of_subclasses(small, head, continued_by):
    # Regression: the network kept n_subclasses_ while the loss took the new
    # n_subclasses, and training ran on a meaningless loss without an error.
    X, y, _ = small
    model = _teacher(max_epochs=1, warm_start=True, n_subclasses=2, subclass_head=head)
    model.fit(X, y)
    before = [p.detach().clone() for p in model.net_.module_.parameters()]
    model.set_params(n_subclasses=3)
    with pytest.raises(ValueError, match=r"n_subclasses_=2, but n_subclasses is now 3"):
        if continued_by == "warm_start":
            model.fit(X, y)
        else:
            model.partial_fit(X, y)
    after = list(model.net_.module_.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert model.n_subclasses_ == 2 and model.n_iter_ == 1
    model.set_params(warm_start=False).fit(X, y)  # a new network: fine
    assert model.n_subclasses_ == 3


def test_partial_fit_over_chunks_reaches_fit(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    params = dict(FAST, n_subclasses=2)
    fitted = SubclassTeacherClassifier(**{**params, "max_epochs": 5})
    fitted.fit(X_train, y_train)
    model = SubclassTeacherClassifier(**params)
    chunks = np.array_split(np.arange(len(y_train)), 5)
    for epoch in range(5):
        for i, rows in enumerate(chunks):
            model.partial_fit(X_train[rows], y_train[rows], classes=[0, 1])
            assert model.n_iter_ == len(model.history_) == 5 * epoch + i + 1
    assert abs(model.score(X_test, y_test) - fitted.score(X_test, y_test)) < 0.03
    # A chunk of one class, after the first call, needs no classes.
    one_class = y_train == 1
    model.partial_fit(X_train[one_class][:50], y_train[one_class][:50])


def test_partial_fit_checks_classes_and_features(small):
    X, y, _ = small
    model = _teacher()
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not in classes=\[0, 2\]"):
        model.partial_fit(X, y, classes=[0, 2])
    model.partial_fit(X[y == 0], y[y == 0], classes=[0, 1])
    assert model.n_iter_ == 1 and list(model.classes_) == [0, 1]
    with pytest.raises(ValueError, match="not the same as on the first call"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not among the classes"):
        model.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="X has 5 features"):
        model.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="'balanced' is not supported"):
        model.set_params(class_weight="balanced").partial_fit(X, y)


def test_fp64_partial_fit_keeps_float64(small):
    X, y, weight = small
    model = _teacher(precision="fp64").partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y, sample_weight=weight)
    assert model.n_iter_ == 2
    assert {p.dtype for p in model.net_.module_.parameters()} == {torch.float64}
    moments = [
        value
        for state in model.net_.optimizer_.state_dict()["state"].values()
        for name, value in state.items()
        if name != "step"
    ]
    assert moments and {m.dtype for m in moments} == {torch.float64}


def test_student_partial_fit_fits_its_teacher_once(small):
    X, y, weight = small
    student = _student()
    student.partial_fit(X, y, sample_weight=weight)
    teacher = student.teacher_
    assert teacher.n_iter_ == FULL_BATCH["max_epochs"]
    assert list(student.classes_) == [0, 1] and student.n_iter_ == 1
    student.partial_fit(X[:10], y[:10])
    assert student.teacher_ is teacher and student.n_iter_ == 2
    with pytest.raises(ValueError, match="not the teacher's classes"):
        _student().partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_after_early_stopping_fit(small):
    X, y, _ = small
    model = _teacher(early_stopping=True, max_epochs=3).fit(X, y)
    n_iter = model.n_iter_
    model.partial_fit(X, y)  # holds nothing out, never stops early
    assert model.n_iter_ == n_iter + 1
    assert "valid_loss" not in model.history_[-1]


def test_verbose_2_shows_a_progress_bar(small, capsys):
    X, y, _ = small
    model = _teacher(max_epochs=2, batch_size=16, verbose=2).fit(X, y)
    assert "progress_bar" in dict(model.net_.callbacks_)
    assert "train_loss" in capsys.readouterr().out  # the epoch table stays
    model = _teacher(max_epochs=2, verbose=1).fit(X, y)
    assert "progress_bar" not in dict(model.net_.callbacks_)
