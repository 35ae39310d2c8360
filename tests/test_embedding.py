"""EmbeddingSubclassTeacher: embeddings of every kind, distillation, errors."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import TensorDataset

from sklearn_subdistill import (
    EmbeddingSubclassTeacher,
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    _training_data,
    load,
    save,
)
from sklearn_subdistill._embeddings import embedding_function
from sklearn_subdistill.metrics import subclass_recovery_score
from sklearn_subdistill.modules import SubclassHeadNetwork

from .conftest import FAST

STUDENT = dict(FAST, hidden_layer_sizes=(16,))

# Small MLPClassifiers stop before they converge: fast, and good enough here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _mlp(**params):
    return MLPClassifier(
        **{"hidden_layer_sizes": (16,), "max_iter": 60, "random_state": 0, **params}
    )


def _network(**params):
    return SubclassTeacherClassifier(
        **{
            **FAST,
            "n_subclasses": 1,
            "aux_weight": 0.0,
            "hidden_layer_sizes": (16,),
            **params,
        }
    )


def leaf_values(model, X):
    """Each tree's contribution to a gradient boosting model's decision: the
    value of the leaf the row falls in, one column per tree."""
    stages = np.column_stack([s.ravel() for s in model.staged_decision_function(X)])
    return np.diff(stages, axis=1, prepend=0.0)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def _check_subclass_outputs(teacher, X):
    n_classes, k = len(teacher.classes_), teacher.n_subclasses_
    log_proba = teacher.predict_subclass_log_proba(X)
    assert log_proba.shape == (len(X), n_classes * k)
    blocks = log_proba.reshape(len(X), n_classes, k)  # (n, C*k) -> (n, C, k)
    assert_allclose(logsumexp(blocks, axis=2), teacher.predict_log_proba(X), atol=1e-9)
    proba = teacher.transform(X)
    assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert_array_equal(teacher.predict_subclass(X), proba.argmax(axis=1))
    assert_array_equal(
        teacher.predict(X), teacher.classes_[teacher.predict_proba(X).argmax(1)]
    )
    directions = teacher.directions_
    for block in directions:
        assert_allclose(block @ block.T, np.eye(k), atol=1e-9)


@pytest.mark.parametrize("kind", ["network", "fp64 network", "mlp", "pipeline"])
def test_auto_embedding_is_the_input_of_the_output_layer(digits2, kind):
    X_train, X_test, y_train, *_ = digits2
    estimator = {
        "network": _network(),
        "fp64 network": _network(precision="fp64"),
        "mlp": _mlp(),
        "pipeline": make_pipeline(StandardScaler(), _mlp()),
    }[kind]
    teacher = EmbeddingSubclassTeacher(estimator, n_subclasses=4, random_state=0)
    teacher.fit(X_train, y_train)
    _check_subclass_outputs(teacher, X_test)
    model = teacher.estimator_
    embed, weights = embedding_function(model, "auto")
    # The output layer applied to the embedding gives the model's output.
    if kind.endswith("network"):
        last = model.net_.module_.layers[-1]
        logits = embed(X_test) @ weights.T + last.bias.detach().double().numpy()
        rows = torch.as_tensor(X_test).to(last.weight.dtype)
        with torch.no_grad():
            expected = model.net_.module_(rows).double().numpy()
        assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    else:
        mlp = model[-1] if kind == "pipeline" else model
        logit = embed(X_test) @ weights.T + mlp.intercepts_[-1]
        # float32 data: the model computed in float32.
        assert_allclose(
            expit(logit[:, 0]), model.predict_proba(X_test)[:, 1], rtol=1e-5
        )
    # The directions are invisible to the output layer.
    assert_allclose(teacher.directions_ @ weights.T, 0.0, atol=1e-9)


class ConvNet(torch.nn.Module):
    """A user's CNN of the 8x8 digits: convolutions in ``body``, linear ``head``."""

    def __init__(self, n_features, n_outputs, body_linear=False):
        super().__init__()
        if body_linear:  # a body that holds a Linear too
            self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 64))
        else:
            self.body = torch.nn.Sequential(
                torch.nn.Unflatten(1, (1, 8, 8)),
                torch.nn.Conv2d(1, 4, 3),
                torch.nn.ReLU(),
                torch.nn.Flatten(),
            )
        width = 64 if body_linear else 4 * 6 * 6
        self.head = torch.nn.Sequential(
            torch.nn.Linear(width, 12), torch.nn.ReLU(), torch.nn.Linear(12, n_outputs)
        )

    def forward(self, X):
        return self.head(self.body(X))


@pytest.mark.parametrize("body_linear", [False, True])
@pytest.mark.parametrize("head", ["shared", "separate"])
def test_auto_embedding_of_a_network_with_a_body_of_its_own(digits2, body_linear, head):
    # Regression: the teacher's class network was found by the attribute name
    # "body", so a user's network with a "body" was read at the wrong layer
    # (or had "no torch.nn.Linear layer").
    X_train, X_test, y_train, *_ = digits2
    model = _network(
        module=ConvNet,
        module__body_linear=body_linear,
        subclass_head=head,
        n_subclasses=2,
    ).fit(X_train, y_train)
    teacher = EmbeddingSubclassTeacher(
        FrozenEstimator(model), n_subclasses=2, random_state=0
    ).fit(X_train, y_train)
    _check_subclass_outputs(teacher, X_test)
    network = model.net_.module_
    if head == "separate":  # the class network inside the package's wrapper
        assert isinstance(network, SubclassHeadNetwork)
        network = network.body
    last = network.head[-1]  # the output layer: hooked through its input
    with torch.no_grad():
        embedding = network.head[:-1](network.body(torch.as_tensor(X_test)))
    embed, weights = embedding_function(model, "auto")
    assert_allclose(embed(X_test), embedding.double().numpy(), rtol=1e-6)
    assert_array_equal(weights, last.weight.detach().double().numpy())


def test_callable_embedding_of_gradient_boosting_leaves(digits2):
    X_train, X_test, y_train, *_ = digits2
    calls = []

    def embedding(model, X):
        calls.append(len(X))
        return leaf_values(model, X)

    hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    teacher = EmbeddingSubclassTeacher(
        hgb, n_subclasses=3, embedding=embedding, random_state=0
    ).fit(X_train, y_train)
    assert calls == [len(X_train)]
    assert teacher.directions_.shape == (2, 3, 20)
    _check_subclass_outputs(teacher, X_test)
    # Every pseudo-subclass is the most probable one for some rows.
    assert len(np.unique(teacher.predict_subclass(X_test))) == 6


def test_batches_bound_the_rows_per_call(digits2, monkeypatch):
    X_train, X_test, y_train, *_ = digits2
    sizes = []

    def embedding(model, X):
        sizes.append(len(X))
        return leaf_values(model, X)

    teacher = EmbeddingSubclassTeacher(
        HistGradientBoostingClassifier(max_iter=10, random_state=0),
        n_subclasses=2,
        embedding=embedding,
        random_state=0,
    )
    whole = teacher.fit(X_train, y_train).predict_subclass_log_proba(X_test)
    directions = teacher.directions_
    monkeypatch.setattr(_training_data, "INFERENCE_BATCH_SIZE", 100)
    sizes.clear()
    teacher.fit(X_train, y_train)
    assert max(sizes) == 100 and sum(sizes) == len(X_train)
    assert_allclose(teacher.directions_, directions, atol=1e-8)
    assert_allclose(teacher.predict_subclass_log_proba(X_test), whole, atol=1e-8)


def test_frozen_model_is_used_as_is(digits2):
    X_train, X_test, y_train, *_ = digits2
    mlp = _mlp().fit(X_train, y_train)
    weights = [w.copy() for w in mlp.coefs_]
    frozen = EmbeddingSubclassTeacher(
        FrozenEstimator(mlp), n_subclasses=3, random_state=0
    )
    frozen.fit(X_train, y_train)
    assert frozen.estimator_.estimator is mlp
    for before, after in zip(weights, mlp.coefs_, strict=True):
        assert_array_equal(before, after)
    # Unfrozen, the clone is fitted the same way: the same pseudo-subclasses.
    unfrozen = EmbeddingSubclassTeacher(_mlp(), n_subclasses=3, random_state=0)
    unfrozen.fit(X_train, y_train)
    assert unfrozen.estimator_ is not unfrozen.estimator
    assert_allclose(
        unfrozen.predict_subclass_log_proba(X_test),
        frozen.predict_subclass_log_proba(X_test),
    )


def test_random_state_seeds_the_rotations(digits2):
    X_train, _, y_train, *_ = digits2
    mlp = FrozenEstimator(_mlp().fit(X_train, y_train))
    fits = [
        EmbeddingSubclassTeacher(mlp, n_subclasses=3, random_state=seed).fit(
            X_train, y_train
        )
        for seed in (0, 0, 1)
    ]
    assert_array_equal(fits[0].directions_, fits[1].directions_)
    assert not np.allclose(fits[0].directions_, fits[2].directions_)
    # Same subspace, other basis within it.
    for a, b in zip(fits[0].directions_, fits[2].directions_, strict=True):
        assert_allclose(a.T @ a, b.T @ b, atol=1e-9)


def test_temperature_evens_the_split(digits2):
    X_train, X_test, y_train, *_ = digits2
    mlp = FrozenEstimator(_mlp().fit(X_train, y_train))

    def within_class_entropy(temperature):
        teacher = EmbeddingSubclassTeacher(
            mlp, n_subclasses=4, temperature=temperature, random_state=0
        ).fit(X_train, y_train)
        log_proba = teacher.predict_subclass_log_proba(X_test).reshape(-1, 2, 4)
        split = log_proba - logsumexp(log_proba, axis=2, keepdims=True)
        return -(np.exp(split) * split).sum(axis=2).mean()

    assert (
        within_class_entropy(0.5)
        < within_class_entropy(1.0)
        < within_class_entropy(4.0)
    )


def test_student_distils_embedding_subclasses(digits2):
    X_train, X_test, y_train, y_test, _, digit_test = digits2
    teacher = EmbeddingSubclassTeacher(_network(), n_subclasses=5, random_state=0)
    student = SubclassDistilledStudent(
        teacher=teacher, subclass_weight=1.0, **STUDENT
    ).fit(X_train, y_train)
    assert isinstance(student.teacher_, EmbeddingSubclassTeacher)
    assert student.n_subclasses_ == 5
    assert student.transform(X_test).shape == (len(X_test), 10)
    assert student.score(X_test, y_test) > 0.85  # chance: 0.5
    # The pseudo-subclasses carry some of the hidden digits.
    recovery = subclass_recovery_score(
        digit_test, student.teacher_.predict_subclass(X_test)
    )
    assert recovery > 0.3  # chance: about 0.2

    # A frozen fitted teacher gives the student the same targets.
    frozen = SubclassDistilledStudent(
        teacher=FrozenEstimator(student.teacher_), subclass_weight=1.0, **STUDENT
    ).fit(X_train, y_train)
    assert frozen.teacher_.estimator is student.teacher_
    assert_allclose(
        frozen.predict_proba(X_test), student.predict_proba(X_test), atol=1e-6
    )


def test_grid_search_tunes_the_teacher(digits2):
    X_train, _, y_train, *_ = digits2
    student = SubclassDistilledStudent(
        teacher=EmbeddingSubclassTeacher(_mlp(max_iter=30), random_state=0),
        subclass_weight=1.0,  # the split distilled: the student mirrors it
        **{**STUDENT, "max_epochs": 3},
    )
    search = GridSearchCV(
        student,
        {"teacher__n_subclasses": [2, 3], "teacher__temperature": [1.0]},
        cv=2,
    ).fit(X_train[:400], y_train[:400])
    assert len(search.cv_results_["params"]) == 2
    best = search.best_params_["teacher__n_subclasses"]
    assert search.best_estimator_.n_subclasses_ == best


def test_pickles(digits2):
    X_train, X_test, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_network(), n_subclasses=2, random_state=0)
    teacher.fit(X_train, y_train)
    restored = pickle.loads(pickle.dumps(teacher))
    assert_allclose(
        restored.predict_subclass_log_proba(X_test),
        teacher.predict_subclass_log_proba(X_test),
    )


def test_caller_data_is_not_modified(digits2):
    X_train, _, y_train, *_ = digits2
    X, y = X_train.copy(), y_train.copy()
    EmbeddingSubclassTeacher(_mlp(), n_subclasses=2, random_state=0).fit(X, y)
    assert_array_equal(X, X_train)
    assert_array_equal(y, y_train)


def test_no_auto_embedding_is_a_clear_type_error(digits2):
    X_train, _, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(LogisticRegression())
    with pytest.raises(TypeError, match=r"LogisticRegression.*callable embedding"):
        teacher.fit(X_train, y_train)
    with pytest.raises(TypeError, match="Pipeline ending"):
        EmbeddingSubclassTeacher(
            make_pipeline(StandardScaler(), LogisticRegression())
        ).fit(X_train, y_train)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_subclasses": 0}, ValueError, "n_subclasses"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"embedding": "leaves"}, ValueError, "embedding"),
        ({"n_subclasses": 20}, ValueError, r"n_subclasses=20.*only 15"),
        ({"embedding": lambda model, X: np.ones(3)}, ValueError, "shape"),
        (
            {"embedding": lambda model, X: np.full((len(X), 2), np.nan)},
            ValueError,
            "non-finite",
        ),
    ],
)
def test_bad_parameters_are_clear_errors(digits2, params, error, match):
    X_train, _, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_mlp(max_iter=5), **params)
    with pytest.raises(error, match=match):
        teacher.fit(X_train[:200], y_train[:200])


def test_frozen_model_errors(digits2):
    X_train, _, y_train, *_ = digits2
    with pytest.raises(NotFittedError, match="unfitted MLPClassifier"):
        EmbeddingSubclassTeacher(FrozenEstimator(_mlp())).fit(X_train, y_train)
    frozen = FrozenEstimator(_mlp(max_iter=5).fit(X_train, y_train))
    with pytest.raises(ValueError, match="labels the estimator does not know"):
        EmbeddingSubclassTeacher(frozen).fit(X_train, y_train + 5)
    with pytest.raises(ValueError, match="no row of class 1"):
        EmbeddingSubclassTeacher(frozen).fit(
            X_train[y_train == 0], y_train[y_train == 0]
        )
    with pytest.raises(ValueError, match="fitted on 64 features but X has 3"):
        EmbeddingSubclassTeacher(frozen).fit(X_train[:, :3], y_train)


def test_unfitted_and_wrong_width_errors(digits2):
    X_train, X_test, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_mlp(max_iter=5))
    with pytest.raises(NotFittedError):
        teacher.predict_subclass_log_proba(X_test)
    teacher.fit(X_train, y_train)
    with pytest.raises(ValueError, match="X has 3 features"):
        teacher.transform(X_test[:, :3])
    assert list(teacher.get_feature_names_out()[:2]) == ["subclass_0_0", "subclass_0_1"]


def _embedding_of_network(model, X):
    return model.predict_proba(X)  # any deterministic function of the model


@pytest.mark.parametrize("frozen", [False, True])
def test_save_and_load_around_a_network(digits2, tmp_path, frozen):
    X_train, X_test, y_train, *_ = digits2
    network = _network()
    if frozen:
        network = FrozenEstimator(network.fit(X_train, y_train))
    teacher = EmbeddingSubclassTeacher(network, n_subclasses=3, random_state=0)
    teacher.fit(X_train, y_train)
    path = tmp_path / "teacher.pt"
    save(teacher, path)
    restored = load(path)
    assert type(restored) is EmbeddingSubclassTeacher
    assert restored.get_params()["n_subclasses"] == 3
    if frozen:
        assert restored.estimator_ is restored.estimator
    assert_allclose(
        restored.predict_subclass_log_proba(X_test),
        teacher.predict_subclass_log_proba(X_test),
    )
    assert_array_equal(restored.directions_, teacher.directions_)


def test_save_and_load_a_student_of_embedding_subclasses(digits2, tmp_path):
    X_train, X_test, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_network(), n_subclasses=2, random_state=0)
    student = SubclassDistilledStudent(teacher=teacher, **{**STUDENT, "max_epochs": 2})
    student.fit(X_train, y_train)
    save(student, tmp_path / "student.pt")
    restored = load(tmp_path / "student.pt")
    assert isinstance(restored.teacher_, EmbeddingSubclassTeacher)
    assert_allclose(
        restored.teacher_.transform(X_test), student.teacher_.transform(X_test)
    )
    assert_allclose(restored.predict_proba(X_test), student.predict_proba(X_test))


def test_save_needs_a_network_inside_and_the_callable_back(digits2, tmp_path):
    X_train, X_test, y_train, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_mlp(max_iter=5), n_subclasses=2).fit(
        X_train, y_train
    )
    with pytest.raises(TypeError, match=r"only around a SubclassTeacherClassifier"):
        save(teacher, tmp_path / "mlp.pt")
    teacher = EmbeddingSubclassTeacher(
        _network(), n_subclasses=2, embedding=_embedding_of_network, random_state=0
    ).fit(X_train, y_train)
    save(teacher, tmp_path / "callable.pt")
    with pytest.raises(ValueError, match="embedding"):
        load(tmp_path / "callable.pt")
    restored = load(
        tmp_path / "callable.pt", params={"embedding": _embedding_of_network}
    )
    assert_allclose(restored.transform(X_test), teacher.transform(X_test))


def test_dataframe_columns_reach_the_model(digits2):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, *_ = digits2
    columns = [f"pixel_{i}" for i in range(X_train.shape[1])]
    frame = pd.DataFrame(X_train, columns=columns)
    teacher = EmbeddingSubclassTeacher(_mlp(), n_subclasses=2, random_state=0)
    teacher.fit(frame, y_train)
    assert list(teacher.feature_names_in_) == columns
    assert list(teacher.estimator_.feature_names_in_) == columns
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no feature-name warning
        on_frame = teacher.transform(pd.DataFrame(X_test, columns=columns))
    assert on_frame.shape == (len(X_test), 4)


def test_frozen_teacher_distils_on_a_stream(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    teacher = EmbeddingSubclassTeacher(_mlp(), n_subclasses=3, random_state=0)
    teacher.fit(X_train, y_train)
    stream = TensorDataset(torch.as_tensor(X_train), torch.as_tensor(y_train))
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), subclass_weight=1.0, **STUDENT
    )
    student.fit(stream)
    assert student.n_subclasses_ == 3
    assert student.score(X_test, y_test) > 0.85
