"""Shared, seeded fixtures: small real data sets and small fitted models."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

#: Settings that train in about a second on two CPU cores.
FAST = dict(
    hidden_layer_sizes=(32,),
    max_epochs=15,
    lr=1e-2,
    batch_size=64,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="session")
def digits2():
    """Digits 0-4 vs 5-9: train/test split of (X, y, digit)."""
    X, y, digit = load_digits_superclasses(n_superclasses=2)
    X = X.astype(np.float32)
    return train_test_split(X, y, digit, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="session")
def fitted_teacher(digits2):
    X_train, _, y_train, *_ = digits2
    return SubclassTeacherClassifier(n_subclasses=3, **FAST).fit(X_train, y_train)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module on one intra-op thread: for tests of tiny tensors, where on
    a busy machine thread synchronisation would dominate the running time."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)
