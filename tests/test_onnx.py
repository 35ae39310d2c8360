"""ONNX export (sklearn_subdistill.onnx): round trips through onnxruntime."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier

from .conftest import FAST

for _name in ("skl2onnx", "onnx", "onnxscript", "onnxruntime"):
    pytest.importorskip(
        _name,
        reason=f"{_name} is not installed: pip install 'sklearn-subdistill[onnx]'",
    )

import onnx  # noqa: E402
import onnxruntime  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402

import sklearn_subdistill.onnx  # noqa: E402, F401  (registers the converters)

ATOL = 1e-5


@pytest.fixture(scope="module")
def iris3():
    """Three classes with string labels, float32 features."""
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), np.array(["setosa", "versicolor", "virginica"])[y]


@pytest.fixture(scope="module")
def data(request, digits2, iris3):
    if request.param == "binary":
        X_train, X_test, y_train, *_ = digits2
        return X_train, y_train, X_test
    X, y = iris3
    return X, y, X


def _session(model):
    onnx.checker.check_model(model, full_check=True)
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(session, X):
    return session.run(None, {session.get_inputs()[0].name: X})


def _teacher(**params):
    return SubclassTeacherClassifier(
        n_subclasses=2, **{**FAST, "max_epochs": 5, **params}
    )


def _student():
    frozen_teacher = _teacher()
    return SubclassDistilledStudent(teacher=frozen_teacher, **{**FAST, "max_epochs": 5})


def _assert_same(estimator, session, X):
    label, proba = _run(session, X)
    assert_array_equal(label, estimator.predict(X))
    assert proba.dtype == np.float32
    assert_allclose(proba, estimator.predict_proba(X), atol=ATOL, rtol=0)


@pytest.mark.parametrize("data", ["binary", "3-class strings"], indirect=True)
@pytest.mark.parametrize("in_pipeline", [False, True], ids=["alone", "pipeline"])
@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_round_trip(kind, in_pipeline, data):
    X, y, X_test = data
    estimator = _student() if kind == "student" else _teacher()
    if in_pipeline:
        estimator = make_pipeline(StandardScaler(), estimator)
    estimator.fit(X, y)
    model = to_onnx(estimator, X[:1], options={"zipmap": False})
    session = _session(model)
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    assert not isinstance(session.get_inputs()[0].shape[0], int)  # dynamic
    _assert_same(estimator, session, X_test)
    _assert_same(estimator, session, X_test[:1])


@pytest.mark.parametrize(
    "params", [{"subclass_head": "separate"}, {"subclass_head": "shared"}]
)
def test_teacher_heads_round_trip(params, iris3):
    X, y = iris3
    teacher = _teacher(**params).fit(X, y)
    session = _session(to_onnx(teacher, X[:1], options={"zipmap": False}))
    _assert_same(teacher, session, X)


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_fp64_model_exports_a_float32_copy(kind, iris3):
    X, y = iris3
    fp64 = {"precision": "fp64"}
    estimator = (
        SubclassDistilledStudent(
            teacher=_teacher(**fp64), **{**FAST, "max_epochs": 5, **fp64}
        )
        if kind == "student"
        else _teacher(**fp64)
    ).fit(X, y)
    session = _session(to_onnx(estimator, X[:1], options={"zipmap": False}))
    _assert_same(estimator, session, X)
    # The estimator keeps its float64 network.
    dtypes = {p.dtype for p in estimator.net_.module_.parameters()}
    assert dtypes == {torch.float64}


def test_zipmap_and_subclass_probabilities(iris3):
    X, y = iris3
    # A fixed weight: the student distils the split, so it has subclasses.
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(_teacher().fit(X, y)),
        subclass_weight=1.0,
        **{**FAST, "max_epochs": 5},
    ).fit(X, y)
    model = to_onnx(student, X[:1], options={"subclass_proba": True})
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    assert names == ["output_label", "output_probability", "subclass_probabilities"]
    label, proba, subclass = _run(session, X)
    assert_array_equal(label, student.predict(X))
    assert set(proba[0]) == set(student.classes_)  # zipmap: one dict per row
    as_array = np.array([[row[c] for c in student.classes_] for row in proba])
    assert_allclose(as_array, student.predict_proba(X), atol=ATOL, rtol=0)
    assert subclass.shape == (len(X), 6)
    assert_allclose(subclass, student.transform(X), atol=ATOL, rtol=0)


def test_float64_input_gives_float64_probabilities(digits2):
    X_train, X_test, y_train, *_ = digits2
    student = _student().fit(X_train, y_train)
    X64 = X_test.astype(np.float64)
    session = _session(to_onnx(student, X64[:1], options={"zipmap": False}))
    label, proba = _run(session, X64)
    assert proba.dtype == np.float64
    assert_array_equal(label, student.predict(X64))
    assert_allclose(proba, student.predict_proba(X64), atol=ATOL, rtol=0)


class GatedNet(nn.Module):
    """A custom network: a gated hidden layer."""

    def __init__(self, n_features, n_outputs, width=8):
        super().__init__()
        self.value = nn.Linear(n_features, width)
        self.gate = nn.Linear(n_features, width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(torch.tanh(self.value(X)) * torch.sigmoid(self.gate(X)))


def test_custom_module_exports(iris3):
    X, y = iris3
    student = SubclassDistilledStudent(
        teacher=_teacher(module=GatedNet),
        module=GatedNet,
        module__width=6,
        **{**FAST, "max_epochs": 5},
    ).fit(X, y)
    session = _session(to_onnx(student, X[:1], options={"zipmap": False}))
    _assert_same(student, session, X)


class SignFlipNet(nn.Module):
    """A network torch cannot export: Python control flow on a tensor's value."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, X):
        logits = self.linear(X)
        if logits.mean() > 0:
            return logits
        return -logits


def test_unexportable_module_gets_a_clear_error(iris3):
    X, y = iris3
    teacher = _teacher(module=SignFlipNet, subclass_head="shared").fit(X, y)
    with pytest.raises(
        RuntimeError, match=r"torch\.onnx could not export.*SignFlipNet"
    ):
        to_onnx(teacher, X[:1])


def test_options_reach_the_estimator_in_a_pipeline(iris3):
    X, y = iris3
    pipeline = make_pipeline(StandardScaler(), _teacher()).fit(X, y)
    options = {SubclassTeacherClassifier: {"zipmap": False, "subclass_proba": True}}
    session = _session(to_onnx(pipeline, X[:1], options=options))
    label, proba, subclass = _run(session, X)
    assert_array_equal(label, pipeline.predict(X))
    assert_allclose(proba, pipeline.predict_proba(X), atol=ATOL, rtol=0)
    assert_allclose(subclass, pipeline.transform(X), atol=ATOL, rtol=0)
