"""Network parameters: resolved once per fit into one configuration."""

from unittest import mock

import pytest
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

    def spy(estimator, device=None):
        seen.append(type(estimator).__name__)
        return resolve_network_params(estimator, device=device)

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
    SubclassDistilledStudent(teacher=teacher, **SHORT).fit(*data)
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
