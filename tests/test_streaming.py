"""Training and prediction on torch Datasets and iterables of batches."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill._net import IndexSplit
from sklearn_subdistill._streaming import is_stream

from .conftest import FAST

SHORT = {**FAST, "max_epochs": 3}


class Chunks:
    """Consecutive ``(X, y)`` slices of arrays (memory-mapped, say); re-iterable."""

    def __init__(self, X, y=None, size=100):
        self.X, self.y, self.size = X, y, size
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        for start in range(0, len(self.X), self.size):
            part = slice(start, start + self.size)
            yield self.X[part] if self.y is None else (self.X[part], self.y[part])


class Samples(Dataset):
    """A map-style dataset of ``(x, y)`` samples (``x`` alone where ``y`` is None)."""

    def __init__(self, X, y=None):
        self.X, self.y = X, y
        self.reads = 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i] if self.y is None else (self.X[i], self.y[i])


class SampleStream(IterableDataset):
    """An iterable-style dataset of ``(x, y)`` samples."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        return iter(zip(self.X, self.y, strict=True))


def _tensors(X, y):
    return TensorDataset(torch.from_numpy(X), torch.from_numpy(y))


def _same_weights(a, b):
    first, second = a.net_.module_.state_dict(), b.net_.module_.state_dict()
    return all(torch.equal(first[key], second[key]) for key in first)


def _rows_per_epoch(model):
    return [sum(epoch) for epoch in model.history_[:, "batches", :, "train_batch_size"]]


@pytest.mark.parametrize(
    "X, expected",
    [
        (np.zeros((2, 2)), False),
        ([[0.0, 1.0]], False),
        (torch.zeros(2, 2), False),
        (TensorDataset(torch.zeros(2, 2)), True),
        (DataLoader(TensorDataset(torch.zeros(2, 2))), True),
        (Chunks(np.zeros((2, 2))), True),
        (iter([np.zeros((2, 2))]), True),
        ("abc", False),
    ],
)
def test_is_stream_tells_streams_from_array_likes(X, expected):
    assert is_stream(X) is expected


@pytest.mark.parametrize("early_stopping", [False, True])
def test_map_style_dataset_trains_the_same_model_as_arrays(digits2, early_stopping):
    X_train, X_test, y_train, *_ = digits2
    params = {**SHORT, "early_stopping": early_stopping}
    from_array = SubclassTeacherClassifier(**params).fit(X_train, y_train)
    from_dataset = SubclassTeacherClassifier(**params).fit(_tensors(X_train, y_train))
    assert _same_weights(from_array, from_dataset)
    assert from_dataset.n_features_in_ == X_train.shape[1]
    assert_array_equal(from_dataset.classes_, from_array.classes_)
    assert not hasattr(from_dataset, "feature_names_in_")
    assert_array_equal(from_dataset.predict(X_test), from_array.predict(X_test))


def test_student_on_dataset_matches_student_on_arrays(digits2):
    X_train, _, y_train, *_ = digits2
    y = y_train.copy()
    y[200:] = -1  # transfer rows
    teacher = SubclassTeacherClassifier(**SHORT)
    from_array = SubclassDistilledStudent(teacher=teacher, **SHORT).fit(X_train, y)
    from_dataset = SubclassDistilledStudent(teacher=teacher, **SHORT).fit(
        _tensors(X_train, y)
    )
    assert _same_weights(from_array.teacher_, from_dataset.teacher_)
    assert _same_weights(from_array, from_dataset)
    # The teacher saw the 200 labelled rows only; the student saw every row.
    assert set(_rows_per_epoch(from_dataset.teacher_)) == {200}
    assert set(_rows_per_epoch(from_dataset)) == {len(X_train)}


def test_iterable_of_batches_is_read_as_given(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    batches = Chunks(X_train, y_train, size=100)
    model = SubclassTeacherClassifier(**FAST).fit(batches)
    # One checking pass, then one pass per epoch, in the iterable's batches.
    assert batches.passes == 1 + FAST["max_epochs"]
    sizes = model.history_[-1, "batches", :, "train_batch_size"]
    assert sizes == [min(100, len(X_train) - s) for s in range(0, len(X_train), 100)]
    assert model.score(X_test, y_test) > 0.85


def test_dataloader_and_iterable_dataset(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    loader = DataLoader(_tensors(X_train, y_train), batch_size=64, shuffle=True)
    model = SubclassTeacherClassifier(**FAST).fit(loader)
    assert set(_rows_per_epoch(model)) == {len(X_train)}
    assert model.score(X_test, y_test) > 0.85
    # Samples of an IterableDataset are batched with the estimator's batch_size.
    model = SubclassTeacherClassifier(**FAST).fit(SampleStream(X_train, y_train))
    assert model.history_[-1, "batches", 0, "train_batch_size"] == FAST["batch_size"]
    assert model.score(X_test, y_test) > 0.85


def test_string_labels_from_a_dataset(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    names = np.array(["low", "high"])
    model = SubclassTeacherClassifier(**FAST).fit(Samples(X_train, names[y_train]))
    assert_array_equal(model.classes_, ["high", "low"])
    assert model.score(X_test, names[y_test]) > 0.85


def test_predictions_on_streams_equal_predictions_on_arrays(fitted_teacher, digits2):
    _, X_test, _, y_test, *_ = digits2
    streams = {
        "dataset": lambda: _tensors(X_test, y_test),
        "samples without labels": lambda: Samples(X_test),
        "batches": lambda: Chunks(X_test, size=50),
        "labelled batches": lambda: Chunks(X_test, y_test, size=70),
        "loader": lambda: DataLoader(TensorDataset(torch.from_numpy(X_test)), 33),
        "generator": lambda: (X_test[i : i + 40] for i in range(0, len(X_test), 40)),
    }
    for method in (
        "predict",
        "predict_proba",
        "predict_log_proba",
        "transform",
        "predict_subclass",
        "predict_subclass_log_proba",
    ):
        expected = getattr(fitted_teacher, method)(X_test)
        for name, make in streams.items():
            got = getattr(fitted_teacher, method)(make())
            assert got.dtype == expected.dtype, (method, name)
            assert_allclose(got, expected, rtol=1e-6, atol=1e-12, err_msg=name)


def test_student_from_iterable_with_transfer_rows(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    y = y_train.copy()
    y[300:] = -1
    batches = Chunks(X_train, y, size=128)
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(**FAST), **FAST
    ).fit(batches)
    # The teacher trained on the labelled rows only; the student on all.
    assert set(_rows_per_epoch(student.teacher_)) == {300}
    assert set(_rows_per_epoch(student)) == {len(X_train)}
    assert student.score(X_test, y_test) > 0.8


def test_student_from_unlabelled_batches_and_a_frozen_teacher(fitted_teacher, digits2):
    X_train, X_test, *_ = digits2
    frozen = FrozenEstimator(fitted_teacher)
    student = SubclassDistilledStudent(
        teacher=frozen, alpha=1.0, subclass_weight=1.0, **SHORT
    )
    student.fit(Chunks(X_train, size=128))
    assert student.teacher_ is frozen
    assert student.n_subclasses_ == fitted_teacher.n_subclasses_
    agreement = np.mean(student.predict(X_test) == fitted_teacher.predict(X_test))
    assert agreement > 0.9
    # The same from a Dataset of unlabelled samples.
    other = SubclassDistilledStudent(teacher=frozen, alpha=1.0, **SHORT)
    other.fit(Samples(X_train))
    assert np.mean(other.predict(X_test) == fitted_teacher.predict(X_test)) > 0.9


def test_student_with_a_frozen_non_network_teacher_on_batches(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    forest = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    frozen = FrozenEstimator(forest.fit(X_train, y_train))
    student = SubclassDistilledStudent(teacher=frozen, **FAST)
    student.fit(Chunks(X_train, y_train, size=128))
    assert student.n_subclasses_ == 1
    assert student.score(X_test, y_test) > 0.85


def test_memory_mapped_file_streamed_in_chunks(digits2, tmp_path):
    X_train, X_test, y_train, y_test, *_ = digits2
    np.save(tmp_path / "X.npy", X_train)
    np.save(tmp_path / "y.npy", y_train)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_map = np.load(tmp_path / "y.npy", mmap_mode="r")
    model = SubclassTeacherClassifier(**FAST).fit(Chunks(X_map, y_map, size=256))
    assert model.score(X_test, y_test) > 0.8  # batches in file order, unshuffled
    assert_array_equal(model.predict(Chunks(X_map)), model.predict(X_train))


def test_stream_fitted_models_pickle_without_the_data(digits2):
    X_train, X_test, y_train, *_ = digits2
    dataset = Samples(X_train, y_train)
    model = SubclassTeacherClassifier(**SHORT).fit(dataset)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict_proba(X_test), model.predict_proba(X_test))
    assert b"Samples" not in pickle.dumps(model)


def test_refit_on_a_stream_forgets_column_names(digits2):
    import pandas as pd

    X_train, _, y_train, *_ = digits2
    frame = pd.DataFrame(X_train, columns=[f"px{i}" for i in range(X_train.shape[1])])
    model = SubclassTeacherClassifier(**{**SHORT, "max_epochs": 1}).fit(frame, y_train)
    assert hasattr(model, "feature_names_in_")
    model.fit(_tensors(X_train, y_train))
    assert not hasattr(model, "feature_names_in_")
    assert model.predict(X_train).shape == y_train.shape


def test_a_failed_stream_fit_leaves_the_estimator_unfitted(digits2):
    X_train, _, y_train, *_ = digits2
    model = SubclassTeacherClassifier(**{**SHORT, "max_epochs": 1})
    model.fit(X_train, y_train)
    bad = Chunks(np.where(X_train > 0.9, np.nan, X_train), y_train)
    with pytest.raises(ValueError, match="contains NaN"):
        model.fit(bad)
    assert not hasattr(model, "net_")


def test_memory_mapped_validation_split_is_not_copied(digits2, tmp_path, monkeypatch):
    X_train, X_test, y_train, y_test, *_ = digits2
    np.save(tmp_path / "X.npy", X_train)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    splits = []
    split = IndexSplit.__call__

    def spy(self, dataset, y=None, **fit_params):
        parts = split(self, dataset, y, **fit_params)
        splits.append(parts)
        return parts

    monkeypatch.setattr(IndexSplit, "__call__", spy)
    params = {**FAST, "early_stopping": True}
    model = SubclassTeacherClassifier(**params).fit(X_map, y_train)
    train, valid = splits[0]
    for part in (train, valid):
        # Rows are read from the file batch by batch, not copied up front.
        assert np.shares_memory(part.X, X_map) and part.X.shape == X_map.shape
        assert np.all(np.diff(part.rows) > 0)
    assert len(train) + len(valid) == len(X_train)
    assert set(train.rows).isdisjoint(valid.rows)
    assert model.score(X_test, y_test) > 0.85
    assert set(_rows_per_epoch(model)) == {len(train)}


class BatchStreamDataset(IterableDataset):
    """An IterableDataset that yields ``(X_batch, y_batch)`` chunks, as chunked
    file readers do."""

    def __init__(self, X, y, size=100):
        self.X, self.y, self.size = X, y, size

    def __iter__(self):
        for start in range(0, len(self.X), self.size):
            part = slice(start, start + self.size)
            yield torch.from_numpy(self.X[part]), torch.from_numpy(self.y[part])


def _batch_sizes(model):
    return {
        batch["train_batch_size"] for row in model.history_ for batch in row["batches"]
    }


def test_student_fits_its_teacher_with_the_teachers_batch_size(digits2):
    # Regression: the teacher used to be fitted with the student's batch_size.
    X, _, y, *_ = digits2
    y = y.copy()
    y[::4] = -1
    teacher = SubclassTeacherClassifier(n_subclasses=2, **{**SHORT, "batch_size": 128})
    student = SubclassDistilledStudent(teacher=teacher, **{**SHORT, "batch_size": 50})
    student.fit(SampleStream(X, y))
    alone = clone(teacher).fit(SampleStream(X[y != -1], y[y != -1]))
    assert max(_batch_sizes(student.teacher_)) == 128
    assert _batch_sizes(student.teacher_) == _batch_sizes(alone)
    assert max(_batch_sizes(student)) == 50
    for name, value in alone.net_.module_.state_dict().items():
        assert torch.equal(student.teacher_.net_.module_.state_dict()[name], value)


def test_iterable_dataset_of_batches_is_read_as_batches(digits2):
    # Regression: (X_batch, y_batch) items used to fail in numpy's stacking.
    X, _, y, *_ = digits2
    model = SubclassTeacherClassifier(n_subclasses=2, **SHORT)
    model.fit(BatchStreamDataset(X, y, size=100))
    assert _batch_sizes(model) == {100, len(X) % 100}
    reference = clone(model).fit(Chunks(X, y, size=100))
    assert_allclose(model.predict_proba(X), reference.predict_proba(X))
    assert_array_equal(
        model.predict(BatchStreamDataset(X, y, size=70)), model.predict(X)
    )


def test_student_on_an_iterable_dataset_of_batches_with_transfer_rows(digits2):
    X, X_test, y, y_test, *_ = digits2
    y = y.copy()
    y[::3] = -1
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(n_subclasses=2, **SHORT), **SHORT
    ).fit(BatchStreamDataset(X, y))
    assert len(student.teacher_.history_[-1]["batches"]) == -(-len(X) // 100)
    assert student.score(X_test, y_test) > 0.8


def test_samples_then_batches_in_one_iterable_dataset_is_refused(digits2):
    X, _, y, *_ = digits2

    class Mixed(IterableDataset):
        def __iter__(self):
            yield X[0], y[0]
            yield X[1:10], y[1:10]

    with pytest.raises(ValueError, match="yields samples and then a batch"):
        SubclassTeacherClassifier(**SHORT).fit(Mixed())
