"""Network parameters: resolved once per fit into one configuration."""

from unittest import mock

import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch.utils.data import TensorDataset

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    _base,
)
from sklearn_subdistill._params import NetworkConfig, resolve_network_params
from sklearn_subdistill.modules import MLP

from .conftest import FAST

SHORT = {**FAST, "max_epochs": 2}


@pytest.fixture
def resolutions():
    """The names of the estimators whose parameters were resolved, in order."""
    seen = []

    def spy(estimator, **kwargs):
        seen.append(type(estimator).__name__)
        return resolve_network_params(estimator, **kwargs)

    with mock.patch.object(_base, "resolve_network_params", spy):
        yield seen


def _as_dataset(X, y):
    import torch

    return TensorDataset(torch.from_numpy(X), torch.from_numpy(y))


@pytest.mark.parametrize("stream", [False, True])
def test_parameters_are_resolved_once_per_fit(digits2, resolutions, stream):
    X, _, y, *_ = digits2
    data = (_as_dataset(X, y),) if stream else (X, y)
    SubclassTeacherClassifier(n_subclasses=2, **SHORT).fit(*data)
    assert resolutions == ["SubclassTeacherClassifier"]
    resolutions.clear()
    teacher = SubclassTeacherClassifier(n_subclasses=2, **SHORT)
    # A fixed weight: "auto" would fit two more students, each resolving once.
    student = SubclassDistilledStudent(teacher=teacher, subclass_weight=0.3, **SHORT)
    student.fit(*data)
    # The student's own, then its teacher's (fitted through its own fit).
    assert resolutions == ["SubclassDistilledStudent", "SubclassTeacherClassifier"]


def test_resolved_configuration(digits2):
    model = SubclassTeacherClassifier(
        hidden_layer_sizes=7,
        optimizer="sgd",
        optimizer__momentum=0.9,
        module__dropout=0.1,
        device="cpu",
    )
    config = resolve_network_params(model)
    assert isinstance(config, NetworkConfig)
    assert config.module is MLP
    assert config.module_params == {"hidden_layer_sizes": (7,), "dropout": 0.1}
    assert config.optimizer_params == {"momentum": 0.9}
    assert config.device == "cpu"
    assert config.callbacks == []


@pytest.mark.parametrize("incremental", [False, True])
def test_early_stopping_is_decided_once(incremental):
    model = SubclassTeacherClassifier(early_stopping=True, batch_size=32, lr=0.5)
    config = resolve_network_params(model, incremental=incremental)
    # partial_fit never stops early; everything below reads this field.
    assert config.early_stopping is not incremental
    assert (config.name, config.batch_size, config.lr) == (
        "SubclassTeacherClassifier",
        32,
        0.5,
    )


# -- which names are parameters -----------------------------------------------


@pytest.mark.parametrize(
    "name, suggestion",
    [("max_epoch", "max_epochs"), ("n_subclases", "n_subclasses"), ("xyz", None)],
)
def test_set_params_refuses_an_unknown_name_at_once(name, suggestion):
    # Regression: set_params(max_epoch=3) was accepted and failed only in fit.
    model = SubclassTeacherClassifier(**SHORT)
    before = model.get_params()
    with pytest.raises(ValueError, match=f"Invalid parameter '{name}'") as error:
        model.set_params(lr=0.5, **{name: 3})
    if suggestion:
        assert f"Did you mean '{suggestion}'?" in str(error.value)
    else:
        assert "Did you mean" not in str(error.value)
    assert model.get_params() == before  # nothing was set
    student = SubclassDistilledStudent(teacher=SubclassTeacherClassifier())
    with pytest.raises(ValueError, match="Did you mean 'temperature'"):
        student.set_params(temprature=2.0)
    with pytest.raises(ValueError, match="Invalid parameter 'teachr__lr'"):
        student.set_params(teachr__lr=0.1)


def test_routed_parameters_stay_settable_and_searchable(digits2):
    X, _, y, *_ = digits2
    model = SubclassTeacherClassifier(**SHORT).set_params(
        module__dropout=0.1, optimizer__weight_decay=1e-4
    )
    params = model.get_params()
    assert params["module__dropout"] == 0.1
    assert params["optimizer__weight_decay"] == 1e-4
    assert clone(model).get_params()["module__dropout"] == 0.1
    student = SubclassDistilledStudent(teacher=SubclassTeacherClassifier())
    student.set_params(teacher__module__dropout=0.2, teacher__n_subclasses=2)
    assert student.teacher.get_params()["module__dropout"] == 0.2
    search = GridSearchCV(
        model,
        {"module__dropout": [0.0, 0.2], "optimizer__weight_decay": [0.0, 1e-3]},
        cv=2,
    ).fit(X[:200], y[:200])
    assert set(search.best_params_) == {"module__dropout", "optimizer__weight_decay"}


def test_a_public_attribute_is_not_a_parameter():
    # Regression: anything in vars(self) became a parameter and survived clone.
    model = SubclassTeacherClassifier()
    model.note = "mine"
    assert "note" not in model.get_params()
    assert not hasattr(clone(model), "note")
    # An unknown name given to __init__ is kept for fit to refuse.
    typo = SubclassTeacherClassifier(n_subclases=3)
    assert clone(typo).get_params()["n_subclases"] == 3
    typo.set_params(**typo.get_params())  # what get_params gives, set_params takes
