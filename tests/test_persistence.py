"""Persistence: pickle and joblib, the safe format, and models from another device."""

import contextlib
import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import LRScheduler
from skorch.exceptions import DeviceWarning
from torch import nn

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    load,
    save,
)
from sklearn_subdistill.persistence import FORMAT, FORMAT_VERSION

TINY = dict(hidden_layer_sizes=(8,), max_epochs=3, lr=1e-2, batch_size=32)
FIT = dict(TINY, device="cpu", random_state=0)


class WideNet(nn.Module):
    """A custom network with a tunable width."""

    def __init__(self, n_features, n_outputs, width=4):
        super().__init__()
        self.hidden = nn.Linear(n_features, width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((120, 5)).astype(np.float32)
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    return X, y


@pytest.fixture(scope="module")
def teacher(data):
    X, y = data
    return SubclassTeacherClassifier(n_subclasses=2, **FIT).fit(X, y)


@pytest.fixture(scope="module")
def students(data, teacher):
    X, y = data
    return {
        "frozen teacher": SubclassDistilledStudent(
            teacher=FrozenEstimator(teacher), **FIT
        ).fit(X, y),
        "teacher fitted inside": SubclassDistilledStudent(
            teacher=SubclassTeacherClassifier(n_subclasses=3, **FIT), **FIT
        ).fit(X, y),
        "another kind of teacher": SubclassDistilledStudent(
            teacher=LogisticRegression(), **FIT
        ).fit(X, y),
    }


def _assert_same_model(restored, original, X):
    assert type(restored) is type(original)
    assert_array_equal(restored.classes_, original.classes_)
    assert restored.classes_.dtype == original.classes_.dtype
    assert restored.n_subclasses_ == original.n_subclasses_
    assert restored.n_features_in_ == original.n_features_in_
    assert restored.n_iter_ == original.n_iter_
    assert restored.history_[:, "train_loss"] == original.history_[:, "train_loss"]
    for method in ("predict", "predict_proba", "transform", "predict_subclass"):
        assert_array_equal(getattr(restored, method)(X), getattr(original, method)(X))


# -- pickle and joblib ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["teacher", "frozen teacher", "teacher fitted inside"])
def test_pickle_and_joblib_round_trips(kind, data, teacher, students, tmp_path):
    X, _ = data
    model = teacher if kind == "teacher" else students[kind]
    _assert_same_model(pickle.loads(pickle.dumps(model)), model, X)
    joblib.dump(model, tmp_path / "model.joblib")
    _assert_same_model(joblib.load(tmp_path / "model.joblib"), model, X)


@contextlib.contextmanager
def tensors_tagged_as_cuda():
    """Make ``torch.save`` record CPU tensors as living on ``cuda:0``.

    torch asks its registered taggers, in priority order, where each storage
    lives; a tagger ahead of the CPU's writes ``cuda:0`` into the file, as
    saving on a GPU does. Loading such a file on a machine without CUDA fails
    unless ``map_location`` sends the tensors elsewhere.
    """
    registry = torch.serialization._package_registry
    saved = list(registry)
    registry.insert(
        0, (0, lambda s: "cuda:0" if s.device.type == "cpu" else None, lambda *a: None)
    )
    try:
        yield
    finally:
        registry[:] = saved


@pytest.fixture
def no_cuda(monkeypatch):
    """This machine has no CUDA (true here, or pretended on a GPU machine)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_model_pickled_on_cuda_unpickles_and_predicts_on_cpu(data, teacher, no_cuda):
    X, _ = data
    expected = teacher.predict_proba(X)
    model = pickle.loads(pickle.dumps(teacher))  # a copy to move "to CUDA"
    model.set_params(device="cuda")
    model.net_.device = "cuda"
    with tensors_tagged_as_cuda():
        blob = pickle.dumps(model)
    with pytest.warns(DeviceWarning) as record:
        restored = pickle.loads(blob)
    assert any("no CUDA devices" in str(w.message) for w in record)
    assert any("device parameter is now 'cpu'" in str(w.message) for w in record)
    assert str(restored.net_.device) == "cpu"
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    assert_array_equal(restored.predict_proba(X), expected)
    # Its device parameter follows: it trains here, from scratch or on.
    assert restored.device == "cpu"
    restored.fit(X, data[1])
    restored.set_params(warm_start=True).fit(X, data[1])
    assert restored.n_iter_ == 2 * restored.max_epochs


def test_student_pickled_on_cuda_unpickles_with_a_usable_teacher(data, no_cuda):
    X, y = data
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(n_subclasses=2, **FIT), **FIT
    ).fit(X, y)
    student.set_params(device="cuda", teacher__device="cuda")
    for model in (student, student.teacher_):
        model.net_.device = "cuda"
    with tensors_tagged_as_cuda():
        blob = pickle.dumps(student)
    with pytest.warns(UserWarning, match="device parameter is now 'cpu'"):
        restored = pickle.loads(blob)
    assert restored.device == restored.teacher.device == "cpu"
    restored.fit(X, y)  # refits the teacher too, on this machine


# -- the safe format ----------------------------------------------------------------


def test_save_load_teacher(data, teacher, tmp_path):
    X, y = data
    save(teacher, tmp_path / "teacher.pt")
    restored = load(tmp_path / "teacher.pt")
    _assert_same_model(restored, teacher, X)
    assert restored.get_params() == teacher.get_params()
    assert restored.net_.module_ is not teacher.net_.module_
    # A loaded model trains again like any other.
    refit = restored.fit(X, y)
    assert_array_equal(refit.predict_proba(X), teacher.predict_proba(X))


@pytest.mark.parametrize("head", ["detached", "shared"])
def test_save_load_and_pickle_keep_fp64(data, tmp_path, head):
    X, y = data
    fp64 = dict(FIT, precision="fp64")
    teacher = SubclassTeacherClassifier(n_subclasses=2, subclass_head=head, **fp64)
    student = SubclassDistilledStudent(teacher=teacher, **fp64).fit(X, y)
    save(student, tmp_path / "student.pt")
    copies = load(tmp_path / "student.pt"), pickle.loads(pickle.dumps(student))
    for restored in copies:
        # Loaded into a float64 network: no weight is rounded to float32.
        _assert_same_model(restored, student, X)
        _assert_same_model(restored.teacher_, student.teacher_, X)
        for model in (restored, restored.teacher_):
            dtypes = {p.dtype for p in model.net_.module_.parameters()}
            assert dtypes == {torch.float64}


@pytest.mark.parametrize(
    "kind", ["frozen teacher", "teacher fitted inside", "another kind of teacher"]
)
def test_save_load_student(kind, data, students, tmp_path):
    X, _ = data
    student = students[kind]
    save(student, tmp_path / "student.pt")
    if kind == "another kind of teacher":
        # Not plain data: stored by name, passed back by the caller; the
        # fitted LogisticRegression is not kept, and not needed to predict.
        with pytest.raises(ValueError, match=r"teacher \(.*LogisticRegression\)"):
            load(tmp_path / "student.pt")
        restored = load(
            tmp_path / "student.pt", params={"teacher": LogisticRegression()}
        )
        assert not hasattr(restored, "teacher_")
        _assert_same_model(restored, student, X)
        return
    restored = load(tmp_path / "student.pt")
    _assert_same_model(restored, student, X)
    if kind == "frozen teacher":
        assert isinstance(restored.teacher, FrozenEstimator)
        assert restored.teacher_ is restored.teacher
        _assert_same_model(restored.teacher_.estimator, student.teacher_.estimator, X)
    else:
        assert restored.teacher.get_params() == student.teacher.get_params()
        assert not hasattr(restored.teacher, "net_")
        _assert_same_model(restored.teacher_, student.teacher_, X)


def test_save_load_student_of_a_frozen_foreign_teacher(data, tmp_path):
    X, y = data
    frozen = FrozenEstimator(LogisticRegression().fit(X, y))
    student = SubclassDistilledStudent(teacher=frozen, **FIT).fit(X, y)
    save(student, tmp_path / "student.pt")
    restored = load(tmp_path / "student.pt", params={"teacher": frozen})
    assert restored.teacher is frozen and not hasattr(restored, "teacher_")
    _assert_same_model(restored, student, X)


def test_save_load_custom_network_dataframe_and_callbacks(data, tmp_path):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    scheduler = LRScheduler("StepLR", step_size=1)
    model = SubclassTeacherClassifier(
        module=WideNet,
        module__width=6,
        callbacks=[scheduler],
        early_stopping=True,
        optimizer__weight_decay=1e-4,
        **FIT,
    ).fit(frame, y)
    save(model, tmp_path / "model.pt")
    with pytest.raises(
        ValueError,
        match=r"callbacks \(list of skorch.*LRScheduler\), module \(.*WideNet\)",
    ):
        load(tmp_path / "model.pt")
    restored = load(
        tmp_path / "model.pt", params={"module": WideNet, "callbacks": [scheduler]}
    )
    assert restored.net_.module_.body.hidden.out_features == 6
    assert_array_equal(restored.feature_names_in_, frame.columns)
    assert "valid_loss" in restored.history_[-1]
    _assert_same_model(restored, model, frame)


def test_save_load_unfitted_and_file_objects(teacher, data):
    buffer = io.BytesIO()
    save(SubclassTeacherClassifier(n_subclasses=4, device=torch.device("cpu")), buffer)
    buffer.seek(0)
    restored = load(buffer)
    assert restored.n_subclasses == 4 and restored.device == torch.device("cpu")
    assert not hasattr(restored, "net_")


def test_file_holds_only_plain_data_and_tensors(teacher, tmp_path):
    save(teacher, tmp_path / "teacher.pt")
    payload = torch.load(tmp_path / "teacher.pt", weights_only=True)
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION
    fitted = payload["estimator"]["fitted"]
    assert fitted["classes"] == ["no", "yes"]
    assert all(t.device.type == "cpu" for t in fitted["state_dict"].values())

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    allowed = (type(None), bool, int, float, str, torch.Tensor)
    assert {type(v) for v in leaves(payload)} <= set(allowed)


class Exploit:
    """Unpickling this calls ``_exploited``: what a malicious pickle does."""

    def __reduce__(self):
        return (_exploited, ("ran",))


CALLS = []


def _exploited(value):
    CALLS.append(value)
    return value


def test_load_runs_no_code_from_the_file(tmp_path):
    torch.save(
        {"format": FORMAT, "format_version": 1, "estimator": Exploit()},
        tmp_path / "evil.pt",
    )
    with pytest.raises(
        ValueError, match=r"not a file written by sklearn_subdistill\.save"
    ):
        load(tmp_path / "evil.pt")
    assert CALLS == []
    # The same file through pickle would have run it.
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert CALLS == ["ran"]


@pytest.mark.parametrize(
    "content", [b"hello world\n", b"", b"\x80\x02}q\x00.", b"PK\x03\x04junk"]
)
def test_load_of_a_file_that_is_not_a_model(tmp_path, content):
    # Regression: a short text file used to raise KeyError: 101.
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"not a file written by sklearn_subdistill"):
        load(path)


def test_load_names_no_class_outside_the_package(teacher, tmp_path):
    save(teacher, tmp_path / "teacher.pt")
    payload = torch.load(tmp_path / "teacher.pt", weights_only=True)
    payload["estimator"]["class"] = "os.system"
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(ValueError, match="bad or missing estimator class"):
        load(tmp_path / "tampered.pt")


def test_weights_that_do_not_fit_the_network(teacher, tmp_path):
    save(teacher, tmp_path / "teacher.pt")
    payload = torch.load(tmp_path / "teacher.pt", weights_only=True)
    payload["estimator"]["params"]["hidden_layer_sizes"] = (9,)
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(ValueError, match="do not fit the network"):
        load(tmp_path / "tampered.pt")


def test_safe_file_with_cuda_tensors_loads_on_cpu(data, teacher, tmp_path, no_cuda):
    X, _ = data
    model = pickle.loads(pickle.dumps(teacher))
    model.net_.device = "cuda"  # as if trained there
    with tensors_tagged_as_cuda():
        save(model, tmp_path / "cuda.pt")
    with pytest.raises(RuntimeError, match="CUDA device"):
        torch.load(tmp_path / "cuda.pt", weights_only=True)  # without map_location
    with pytest.warns(UserWarning, match="trained on 'cuda'.*loaded on the CPU"):
        restored = load(tmp_path / "cuda.pt")
    assert restored.net_.device == "cpu"
    assert_array_equal(restored.predict_proba(X), teacher.predict_proba(X))
    with pytest.raises(ValueError, match="CUDA is not available"):
        load(tmp_path / "cuda.pt", device="cuda")
    assert load(tmp_path / "cuda.pt", device="cpu").net_.device == "cpu"


def test_safe_file_of_a_cuda_model_loads_a_model_that_trains(data, tmp_path, no_cuda):
    X, y = data
    model = SubclassTeacherClassifier(n_subclasses=2, **FIT)
    model.fit(X, y)
    model.device = "cuda"  # the parameter of a model trained on a GPU
    model.net_.device = "cuda"
    with tensors_tagged_as_cuda():
        save(model, tmp_path / "cuda.pt")
    with pytest.warns(UserWarning, match="device parameter is now 'cpu'"):
        restored = load(tmp_path / "cuda.pt")
    assert restored.device == "cpu" and restored.net_.device == "cpu"
    restored.fit(X, y)


def test_load_leaves_the_global_rng_alone(teacher, tmp_path):
    save(teacher, tmp_path / "teacher.pt")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load(tmp_path / "teacher.pt")
    assert torch.equal(torch.rand(3), expected)


def test_save_refuses_labels_that_are_not_plain(teacher, tmp_path):
    model = pickle.loads(pickle.dumps(teacher))
    model.classes_ = np.array([frozenset([0]), frozenset([1])], dtype=object)
    with pytest.raises(ValueError, match="class labels that are numbers, strings"):
        save(model, tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_file_saved_before_class_mass_keeps_its_split(data, teacher, tmp_path):
    """A teacher saved before ``class_mass`` existed split the class network's
    probabilities; it loads as ``class_mass="class_network"``."""
    X, _ = data
    save(teacher, tmp_path / "teacher.pt")
    payload = torch.load(tmp_path / "teacher.pt", weights_only=True)
    del payload["estimator"]["params"]["class_mass"]
    torch.save(payload, tmp_path / "old.pt")
    old = load(tmp_path / "old.pt")
    assert old.class_mass == "class_network"
    assert_allclose(old.predict_proba(X), teacher.predict_proba(X), rtol=0, atol=0)
    blocks = old.transform(X).reshape(len(X), len(old.classes_), -1).sum(2)
    assert_allclose(blocks, old.predict_proba(X), atol=1e-12)
