"""Bad input: every case tried, the error it gets, and nothing of the caller's changed.

``CASES`` is also the source of the table in ``docs/reliability.rst``:
``python docs/bad_input_table.py --write`` regenerates it, and
``test_docs_table_is_current`` fails when the page and the cases disagree.
"""

import contextlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    load,
    save,
)
from sklearn_subdistill._net import SubclassNet
from sklearn_subdistill.persistence import FORMAT

DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "reliability.rst"
TABLE_START = (
    ".. BEGIN BAD-INPUT TABLE (generated: python docs/bad_input_table.py --write)"
)
TABLE_END = ".. END BAD-INPUT TABLE"


@dataclass(frozen=True)
class Case:
    """One bad input: the code that passes it, the error and a pattern it names."""

    what: str
    code: str
    error: type
    match: str
    patches: dict = field(default_factory=dict)
    #: The error must come before any network is built or run.
    torch_free: bool = True


NO_CUDA = {"torch.cuda.is_available": lambda: False}
ONE_GPU = {
    "torch.cuda.is_available": lambda: True,
    "torch.cuda.device_count": lambda: 1,
}
T = "SubclassTeacherClassifier"
S = "SubclassDistilledStudent"
IPE = InvalidParameterError

# fmt: off
CASES = {
    "Hyperparameters": [
        Case("n_subclasses zero", f"{T}(n_subclasses=0).fit(X, y)", IPE,
             r"'n_subclasses' parameter .* int in the range \[1, inf\)"),
        Case("n_subclasses not an int", f"{T}(n_subclasses=2.5).fit(X, y)", IPE,
             r"'n_subclasses' parameter"),
        Case("n_subclasses a bool", f"{T}(n_subclasses=True).fit(X, y)", IPE,
             r"'n_subclasses' parameter .* not a bool"),
        Case("aux_temperature zero", f"{T}(aux_temperature=0).fit(X, y)", IPE,
             r"'aux_temperature' parameter .* \(0.0, inf\)"),
        Case("aux_weight negative", f"{T}(aux_weight=-1).fit(X, y)", IPE,
             r"'aux_weight' parameter"),
        Case("lr zero", f"{T}(lr=0).fit(X, y)", IPE, r"'lr' parameter .* \(0.0, inf\)"),
        Case("lr NaN", f"{T}(lr=float('nan')).fit(X, y)", IPE, r"'lr' parameter"),
        Case("lr a string", f"{T}(lr='fast').fit(X, y)", IPE, r"'lr' parameter"),
        Case("batch_size zero", f"{T}(batch_size=0).fit(X, y)", IPE,
             r"'batch_size' parameter .* \[1, inf\)"),
        Case("max_epochs zero", f"{T}(max_epochs=0).fit(X, y)", IPE,
             r"'max_epochs' parameter"),
        Case("hidden layer of width 0", f"{T}(hidden_layer_sizes=(32, 0)).fit(X, y)",
             ValueError, r"hidden_layer_sizes must be a sequence of positive ints"),
        Case("hidden_layer_sizes a string", f"{T}(hidden_layer_sizes='big').fit(X, y)",
             IPE, r"'hidden_layer_sizes' parameter"),
        Case("validation_fraction 1", f"{T}(validation_fraction=1.0).fit(X, y)", IPE,
             r"'validation_fraction' parameter .* \(0.0, 1.0\)"),
        Case("n_iter_no_change zero", f"{T}(n_iter_no_change=0).fit(X, y)", IPE,
             r"'n_iter_no_change' parameter"),
        Case("tol negative", f"{T}(tol=-1).fit(X, y)", IPE, r"'tol' parameter"),
        Case("early_stopping not a bool", f"{T}(early_stopping='yes').fit(X, y)", IPE,
             r"'early_stopping' parameter"),
        Case("unknown optimizer name", f"{T}(optimizer='adagrad').fit(X, y)", IPE,
             r"'optimizer' parameter .* \{.*'adam'"),
        Case("optimizer class not an Optimizer", f"{T}(optimizer=dict).fit(X, y)",
             TypeError, r"optimizer must be .* torch.optim.Optimizer subclass"),
        Case("optimizer argument the optimizer lacks",
             f"{T}(optimizer__momentum=0.9).fit(X, y)", TypeError,
             r"optimizer__momentum, but Adam accepts no such argument"),
        Case("optimizer argument set by the estimator",
             f"{T}(optimizer__lr=0.1).fit(X, y)", ValueError,
             r"optimizer__lr cannot be set"),
        Case("unknown precision", f"{T}(precision='fp8').fit(X, y)", IPE,
             r"'precision' parameter"),
        Case("random_state a string", f"{T}(random_state='seed').fit(X, y)", IPE,
             r"'random_state' parameter"),
        Case("unknown device name", f"{T}(device='gpu0').fit(X, y)", ValueError,
             r"device='gpu0' is not a torch device"),
        Case("device type not supported", f"{T}(device='meta').fit(X, y)", ValueError,
             r"device='meta' is not supported"),
        Case("CUDA device on a machine without CUDA", f"{T}(device='cuda').fit(X, y)",
             ValueError, r"device='cuda' was requested but CUDA is not available",
             patches=NO_CUDA),
        Case("CUDA device index that does not exist (one GPU)",
             f"{T}(device='cuda:3').fit(X, y)", ValueError,
             r"device='cuda:3' does not exist: this machine has 1 CUDA device",
             patches=ONE_GPU),
        Case("device not a string or torch.device", f"{T}(device=0).fit(X, y)", IPE,
             r"'device' parameter"),
        Case("module not a torch module", f"{T}(module=int).fit(X, y)", TypeError,
             r"module must be a torch.nn.Module subclass"),
        Case("module without n_features/n_outputs", f"{T}(module=NoArgsNet).fit(X, y)",
             TypeError, r"must accept the keyword arguments n_features and n_outputs"),
        Case("module argument the module lacks", f"{T}(module__widht=8).fit(X, y)",
             TypeError, r"module__widht, but MLP accepts no such argument"),
        Case("module argument set by the estimator",
             f"{T}(module__n_features=3).fit(X, y)", ValueError,
             r"module__n_features cannot be set"),
        Case("module__hidden_layer_sizes with the default network",
             f"{T}(module__hidden_layer_sizes=(8,)).fit(X, y)", ValueError,
             r"module__hidden_layer_sizes cannot be set"),
        Case("misspelt parameter", f"{T}(n_subclases=3).fit(X, y)", TypeError,
             r"unknown parameter\(s\) \['n_subclases'\]"),
        Case("callbacks not a list", f"{T}(callbacks='print').fit(X, y)", IPE,
             r"'callbacks' parameter"),
        Case("callbacks holding a non-callback", f"{T}(callbacks=[print]).fit(X, y)",
             TypeError, r"callbacks must be a list of skorch callbacks"),
        Case("temperature zero", f"{S}(temperature=0).fit(X, y)", IPE,
             r"'temperature' parameter .* \(0.0, inf\)"),
        Case("temperature negative", f"{S}(temperature=-4).fit(X, y)", IPE,
             r"'temperature' parameter"),
        Case("alpha above 1", f"{S}(alpha=1.5).fit(X, y)", IPE,
             r"'alpha' parameter .* \[0.0, 1.0\]"),
        Case("alpha below 0", f"{S}(alpha=-0.1).fit(X, y)", IPE, r"'alpha' parameter"),
        Case("teacher without predict_proba", f"{S}(teacher=LinearSVC()).fit(X, y)",
             IPE, r"'teacher' parameter .* 'predict_proba'"),
        Case("teacher a string", f"{S}(teacher='hgb').fit(X, y)", IPE,
             r"'teacher' parameter"),
        Case("invalid parameter of the student's teacher",
             f"{S}(teacher={T}(n_subclasses=0)).fit(X, y)", IPE,
             r"'n_subclasses' parameter of SubclassTeacherClassifier"),
    ],
    "Training data": [
        Case("NaN in X", f"{T}().fit(np.where(X > 1, np.nan, X), y)", ValueError,
             r"Input X contains NaN"),
        Case("infinity in X", f"{T}().fit(np.where(X > 1, np.inf, X), y)", ValueError,
             r"Input X contains infinity"),
        Case("X beyond the float32 range", f"{T}().fit(X * 1e300, y)", ValueError,
             r"too large for float32"),
        Case("sparse X", f"{T}().fit(csr_matrix(X), y)", TypeError,
             r"Sparse data was passed"),
        Case("X one-dimensional", f"{T}().fit(X[:3, 0], y[:3])", ValueError,
             r"Expected 2D array"),
        Case("X three-dimensional", f"{T}().fit(X[:, :, None], y)", ValueError,
             r"dim 3"),
        Case("X without rows", f"{T}().fit(X[:0], y[:0])", ValueError,
             r"0 sample\(s\)"),
        Case("X without columns", f"{T}().fit(X[:, :0], y)", ValueError,
             r"0 feature\(s\)"),
        Case("X of strings", f"{T}().fit(X.astype(str).astype(object) + 'cm', y)",
             ValueError, r"could not convert string to float"),
        Case("complex X", f"{T}().fit(X[:2] + 1j, y[:2])", ValueError,
             r"Complex data not supported"),
        Case("NaN in y", f"{T}().fit(X, np.where(y == 1, np.nan, 0.0))", ValueError,
             r"Input y contains NaN"),
        Case("continuous y", f"{T}().fit(X, X[:, 0])", ValueError,
             r"Unknown label type: continuous"),
        Case("a single class in y", f"{T}().fit(X, np.zeros(len(X), dtype=int))",
             ValueError, r"at least 2 classes"),
        Case("y of another length", f"{T}().fit(X, y[:-1])", ValueError,
             r"inconsistent numbers of samples"),
        Case("two-dimensional y", f"{T}().fit(X, np.c_[y, y])", ValueError,
             r"y should be a 1d array"),
        Case("no y for the teacher", f"{T}().fit(X, None)", ValueError,
             r"requires y to be passed"),
        Case("sparse X for the student", f"{S}().fit(csr_matrix(X), y)", TypeError,
             r"Sparse data was passed"),
        Case("no y, and a teacher to fit", f"{S}().fit(X)", ValueError,
             r"requires y to be passed.*FrozenEstimator"),
        Case("only unlabelled rows (-1), and a teacher to fit",
             f"{S}().fit(X, np.full(len(X), -1))", ValueError,
             r"requires y to be passed"),
        Case("-1 (unlabelled) and one class", f"{S}().fit(X, np.where(y == 1, 1, -1))",
             ValueError, r"unlabelled .*relabel"),
    ],
    "A teacher that disagrees with the data": [
        Case("teacher fitted on other features",
             f"{S}(teacher=FrozenEstimator(teacher)).fit(X[:, :3], y)", ValueError,
             r"fitted on 4 features but X has 3"),
        Case("teacher fitted on other columns",
             f"{S}(teacher=FrozenEstimator(named_teacher)).fit(frame[frame.columns[::-1]], y)",  # noqa: E501
             ValueError, r"column 0 is 'a' for the teacher and 'd' in X"),
        Case("labels the teacher does not know",
             f"{S}(teacher=FrozenEstimator(teacher)).fit(X, np.where(y == 1, 7, 0))",
             ValueError, r"labels the teacher does not know: \[7\]"),
        Case("frozen teacher that was never fitted",
             f"{S}(teacher=FrozenEstimator({T}())).fit(X, y)", NotFittedError,
             r"FrozenEstimator around an unfitted SubclassTeacherClassifier"),
        Case("teacher predicting NaN probabilities",
             f"{S}(teacher=NaNTeacher()).fit(X, y)", ValueError,
             r"NaNTeacher returned non-finite"),
        Case("teacher predicting the wrong number of columns",
             f"{S}(teacher=ThreeColumnTeacher()).fit(X, y)", ValueError,
             r"expected 2 columns"),
    ],
    "Prediction": [
        Case("predict before fit", f"{T}().predict(X)", NotFittedError,
             r"not fitted yet"),
        Case("wrong number of features", "teacher.predict(X[:, :3])", ValueError,
             r"X has 3 features, but SubclassTeacherClassifier is expecting 4"),
        Case("NaN in X", "teacher.predict_proba(np.where(X > 1, np.nan, X))",
             ValueError, r"Input X contains NaN"),
        Case("X beyond the float32 range", "teacher.predict_proba(X * 1e300)",
             ValueError, r"too large for float32"),
        Case("sparse X", "teacher.transform(csr_matrix(X))", TypeError,
             r"Sparse data was passed"),
        Case("X one-dimensional", "teacher.predict(X[0])", ValueError,
             r"Expected 2D array"),
        Case("X without rows", "teacher.predict_subclass(X[:0])", ValueError,
             r"0 sample\(s\)"),
        Case("columns other than those seen in fit",
             "named_teacher.predict_log_proba(frame[frame.columns[::-1]])", ValueError,
             r"feature names should match"),
        Case("y of another length in score", "teacher.score(X, y[:-1])", ValueError,
             r"inconsistent numbers of samples"),
        Case("input_features of another length",
             "teacher.get_feature_names_out(['a', 'b'])", ValueError,
             r"input_features should have length equal to number of features"),
    ],
    "Data streamed from a torch Dataset or an iterable of batches": [
        Case("y beside a Dataset", f"{T}().fit(TensorDataset(tX, ty), y)", ValueError,
             r"y must be None when X is a torch Dataset"),
        Case("a one-shot generator for fit",
             f"{T}().fit((X[i:i + 20], y[i:i + 20]) for i in (0, 20))", TypeError,
             r"one-shot iterator .* once per epoch"),
        Case("early stopping on an iterable of batches",
             f"{T}(early_stopping=True).fit(Batches((X, y)))", ValueError,
             r"early_stopping=True needs a validation split drawn by index"),
        Case("NaN in a batch",
             f"{T}().fit(Batches((X[:30], y[:30]), (X[30:] * np.nan, y[30:])))",
             ValueError, r"batch 1 of X: Input X contains NaN"),
        Case("batches with different columns",
             f"{T}().fit(Batches((X[:30], y[:30]), (X[30:, :3], y[30:])))", ValueError,
             r"batch 1 of X has 3 features, but the first batch had 4"),
        Case("a batch with more labels than rows",
             f"{T}().fit(Batches((X[:30], y[:31])))", ValueError,
             r"batch 0 of X has 30 rows but 31 labels"),
        Case("continuous labels in a batch", f"{T}().fit(Batches((X, X[:, 0])))",
             ValueError, r"batch 0 of X: Unknown label type"),
        Case("Dataset samples without labels for the teacher",
             f"{T}().fit(TensorDataset(tX))", ValueError,
             r"batch 0 of X has no labels"),
        Case("image-shaped samples",
             f"{T}().fit(TensorDataset(tX.reshape(-1, 2, 2), ty))", ValueError,
             r"batch 0 of X: Found array with dim 3.* 1-D row of features"),
        Case("Dataset mixing labelled and unlabelled samples",
             f"{S}().fit(ListDataset([(X[0], y[0]), X[1]]))", ValueError,
             r"mixes \(x, y\) samples with samples of x alone"),
        Case("an iterable without batches", f"{T}().fit(Batches())", ValueError,
             r"X \(Batches\) yielded no rows"),
        Case("a teacher that cannot read a Dataset",
             f"{S}(teacher=LogisticRegression()).fit(TensorDataset(tX, ty))",
             TypeError, r"LogisticRegression cannot be fitted on a torch Dataset"),
        Case("predict on batches with other columns",
             "teacher.predict(Batches(X[:, :3]))", ValueError,
             r"batch 0 of X has 3 features, but SubclassTeacherClassifier is "
             r"expecting 4"),
    ],
    "Saving and loading": [
        Case("save something else", "save(LogisticRegression(), 'model.pt')",
             TypeError, r"save stores SubclassTeacherClassifier", torch_free=False),
        Case("load a pickle (it could run code)", "load(pickle_file)", ValueError,
             r"not a file written by sklearn_subdistill.save", torch_free=False),
        Case("load a file from a newer format", "load(future_file)", ValueError,
             r"format version 99", torch_free=False),
        Case("load a custom network without its class", "load(custom_module_file)",
             ValueError, r"could not store these parameters as data: module",
             torch_free=False),
        Case("load with a parameter the file stores",
             "load(model_file, params={'lr': 1})", ValueError,
             r"params has \['lr'\]", torch_free=False),
        Case("load onto CUDA on a machine without CUDA",
             "load(model_file, device='cuda')", ValueError,
             r"CUDA is not available", patches=NO_CUDA, torch_free=False),
    ],
}
# fmt: on

ALL_CASES = [case for cases in CASES.values() for case in cases]


class NoArgsNet(nn.Module):
    """A network that does not take n_features and n_outputs."""

    def forward(self, X):
        return X


class TinyNet(nn.Module):
    """A custom network, which the safe format stores by name only."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return self.linear(X)


class NaNTeacher(ClassifierMixin, BaseEstimator):
    """A teacher whose probabilities are NaN."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), np.nan)


class ThreeColumnTeacher(NaNTeacher):
    """A teacher with two classes and three probability columns."""

    def predict_proba(self, X):
        return np.full((len(X), 3), 1 / 3)


class Batches:
    """A re-iterable of the batches given, as a user's batch source would be."""

    def __init__(self, *batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


class ListDataset(Dataset):
    """A map-style dataset of the samples given."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def make_context(directory):
    """The names the cases' code uses; files are written to ``directory``."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    tiny = dict(hidden_layer_sizes=(4,), max_epochs=1, device="cpu", random_state=0)
    teacher = SubclassTeacherClassifier(n_subclasses=2, **tiny).fit(X, y)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    named_teacher = SubclassTeacherClassifier(n_subclasses=2, **tiny).fit(frame, y)

    directory = Path(directory)
    files = {
        "model_file": directory / "model.pt",
        "pickle_file": directory / "model.joblib",
        "future_file": directory / "future.pt",
        "custom_module_file": directory / "custom.pt",
    }
    save(teacher, files["model_file"])
    joblib.dump(teacher, files["pickle_file"])
    torch.save({"format": FORMAT, "format_version": 99}, files["future_file"])
    custom = SubclassTeacherClassifier(module=TinyNet, **tiny).fit(X, y)
    save(custom, files["custom_module_file"])
    return {
        "np": np,
        "X": X,
        "y": y,
        "frame": frame,
        "teacher": teacher,
        "named_teacher": named_teacher,
        "csr_matrix": sp.csr_matrix,
        "FrozenEstimator": FrozenEstimator,
        "LinearSVC": LinearSVC,
        "LogisticRegression": LogisticRegression,
        "NaNTeacher": NaNTeacher,
        "TensorDataset": TensorDataset,
        "tX": torch.from_numpy(X),
        "ty": torch.from_numpy(y),
        "Batches": Batches,
        "ListDataset": ListDataset,
        "NoArgsNet": NoArgsNet,
        "ThreeColumnTeacher": ThreeColumnTeacher,
        T: SubclassTeacherClassifier,
        S: SubclassDistilledStudent,
        "save": save,
        "load": load,
        **{name: str(path) for name, path in files.items()},
    }


def _no_network(*args, **kwargs):
    raise AssertionError("a network was built or run before the input was checked")


@contextlib.contextmanager
def _patched(case):
    with contextlib.ExitStack() as stack:
        for target, replacement in case.patches.items():
            stack.enter_context(mock.patch(target, replacement))
        if case.torch_free:
            stack.enter_context(mock.patch.object(nn.Module, "__init__", _no_network))
            for method in NETWORK_METHODS:
                stack.enter_context(mock.patch.object(SubclassNet, method, _no_network))
        yield


#: What the estimators call to train and predict (skorch's ``fit`` never is).
NETWORK_METHODS = ("initialize", "partial_fit", "evaluation_step")


def test_the_guarded_methods_are_the_ones_that_run(context):
    # The guard above must patch what runs: it once patched SubclassNet.fit.
    called = []
    with contextlib.ExitStack() as stack:
        for method in NETWORK_METHODS:
            original = getattr(SubclassNet, method)

            def spy(net, *args, _original=original, **kwargs):
                called.append(_original.__name__)
                return _original(net, *args, **kwargs)

            stack.enter_context(mock.patch.object(SubclassNet, method, spy))
        X, y = context["X"], context["y"]
        SubclassTeacherClassifier(max_epochs=1, device="cpu").fit(X, y).predict(X)
    assert set(called) == set(NETWORK_METHODS)


def run_case(case, context):
    """The exception ``case`` raises (None if it raises nothing)."""
    with _patched(case), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            eval(case.code, dict(context))
        except Exception as exc:  # the error is what we want to see
            return exc
    return None


def _literal(text):
    text = " ".join(str(text).split())
    return f"``{text}``" if "``" not in text else text


def render_table(context):
    """The reST table of every case, its error type and its exact message."""
    directory = str(Path(context["model_file"]).parent) + "/"
    lines = []
    for section, cases in CASES.items():
        lines += [
            f".. list-table:: {section}",
            "   :header-rows: 1",
            "   :widths: 20 35 12 33",
            "",
            "   * - Bad input",
            "     - Call",
            "     - Error",
            "     - Message",
        ]
        for case in cases:
            exc = run_case(case, context)
            message = str(exc).replace(directory, "") if exc is not None else ""
            lines += [
                f"   * - {case.what}",
                f"     - {_literal(case.code)}",
                f"     - ``{type(exc).__name__}``",
                f"     - {_literal(message)}",
            ]
        lines.append("")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return make_context(tmp_path_factory.mktemp("bad_input"))


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.what for case in ALL_CASES])
def test_bad_input_gets_a_clear_error(case, context):
    exc = run_case(case, context)
    assert exc is not None, f"{case.code} raised nothing"
    assert not isinstance(exc, AssertionError), str(exc)
    assert isinstance(exc, case.error), f"{type(exc).__name__}: {exc}"
    assert re.search(case.match, str(exc), flags=re.S), str(exc)


def test_docs_table_is_current(context):
    if not DOCS_PAGE.exists():
        pytest.skip("the docs are not part of this checkout")
    page = DOCS_PAGE.read_text()
    start = page.index(TABLE_START) + len(TABLE_START)
    documented = page[start : page.index(TABLE_END)].strip()
    assert documented == render_table(context).strip(), (
        "docs/reliability.rst is out of date: run python docs/bad_input_table.py "
        "--write"
    )


# -- the caller's data ---------------------------------------------------------


def _frozen_copies(*arrays):
    """Read-only views (a write would raise) and copies to compare with."""
    views = []
    for array in arrays:
        array = np.asarray(array)
        view = array.view()
        view.flags.writeable = False
        views.append(view)
    return views, [array.copy() for array in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_caller_arrays_are_never_modified(dtype, order):
    rng = np.random.RandomState(1)
    X = np.asarray(rng.standard_normal((80, 5)), dtype=dtype, order=order)
    y = (X[:, 0] > 0).astype(int)
    y_semi = np.where(np.arange(80) % 3 == 0, -1, y)
    (X_ro, y_ro, y_semi_ro), originals = _frozen_copies(X, y, y_semi)
    tiny = dict(hidden_layer_sizes=(4,), max_epochs=2, device="cpu", random_state=0)

    teacher = SubclassTeacherClassifier(n_subclasses=2, **tiny).fit(X_ro, y_ro)
    student = SubclassDistilledStudent(teacher=FrozenEstimator(teacher), **tiny).fit(
        X_ro, y_semi_ro
    )
    inner = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(n_subclasses=2, **tiny), **tiny
    ).fit(X_ro, y_semi_ro)
    for model in (teacher, student, inner):
        model.predict(X_ro)
        model.predict_proba(X_ro)
        model.predict_log_proba(X_ro)
        model.transform(X_ro)
        model.predict_subclass(X_ro)
        model.predict_subclass_log_proba(X_ro)
        model.score(X_ro, y_ro)
    for current, original in zip((X, y, y_semi), originals, strict=True):
        assert_array_equal(current, original)


def test_caller_dataframe_and_params_are_never_modified():
    rng = np.random.RandomState(2)
    frame = pd.DataFrame(rng.standard_normal((50, 3)), columns=["a", "b", "c"])
    labels = pd.Series(np.where(frame["a"] > 0, "yes", "no"))
    frame_copy, labels_copy = frame.copy(), labels.copy()
    sizes = [4]
    callbacks = []
    model = SubclassTeacherClassifier(
        hidden_layer_sizes=sizes,
        callbacks=callbacks,
        max_epochs=1,
        device="cpu",
        random_state=0,
    ).fit(frame, labels)
    model.predict_proba(frame)
    pd.testing.assert_frame_equal(frame, frame_copy)
    pd.testing.assert_series_equal(labels, labels_copy)
    assert sizes == [4] and callbacks == []
    assert model.hidden_layer_sizes is sizes


def test_int_hidden_layer_sizes_means_one_layer(context):
    X, y = context["X"], context["y"]
    model = SubclassTeacherClassifier(
        hidden_layer_sizes=3, max_epochs=1, device="cpu", random_state=0
    ).fit(X, y)
    assert model.net_.module_.body.layers[0].out_features == 3
