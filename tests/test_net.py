"""The fast array path against skorch's normal Dataset + DataLoader path."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from sklearn_subdistill._net import BatchIterator, SubclassNet
from sklearn_subdistill._torch_datasets import ArrayDataset
from sklearn_subdistill.modules import MLP, SubclassTeacherLoss


def _net(seed):
    return SubclassNet(
        module=MLP,
        module__n_features=8,
        module__n_outputs=6,
        module__hidden_layer_sizes=(16,),
        criterion=SubclassTeacherLoss(n_classes=2),
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=3,
        batch_size=32,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        train_split=None,
        device="cpu",
        verbose=0,
    )


def _fit(net, dataset, seed=0):
    torch.manual_seed(seed)
    return net.fit(dataset, y=None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = torch.as_tensor(rng.standard_normal((200, 8)), dtype=torch.float32)
    y = torch.as_tensor((X[:, 0] > 0).long())
    return X, y


def test_fast_path_and_dataloader_path_train_the_same_model(data):
    X, y = data
    fast = _fit(_net(seed=7), ArrayDataset(X, y))
    # A plain torch Dataset takes skorch's normal path: DataLoader collation,
    # shuffled by a generator seeded like the fast path's.
    normal = _fit(_net(seed=7), TensorDataset(X, y))
    assert fast.history[:, "train_loss"] == normal.history[:, "train_loss"]
    for a, b in zip(
        fast.module_.parameters(), normal.module_.parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_shuffling_follows_the_seed(data):
    X, y = data
    a = _fit(_net(seed=1), ArrayDataset(X, y))
    b = _fit(_net(seed=2), ArrayDataset(X, y))
    assert a.history[:, "train_loss"] != b.history[:, "train_loss"]


def test_batches_cover_every_row_once_per_epoch(data):
    X, y = data
    iterator = BatchIterator(ArrayDataset(X, y), batch_size=64, shuffle=True, seed=0)
    assert len(iterator) == 4
    # Two epochs: each visits every row once, in two different orders.
    first, second = (torch.cat([b[0] for b in iterator]) for _ in range(2))
    for rows in (first, second):
        assert torch.equal(rows[:, 0].sort().values, X[:, 0].sort().values)
    assert not torch.equal(first, second)


def test_contiguous_batches_cover_every_row_once(data):
    X, y = data
    dataset = ArrayDataset(X.numpy(), y, contiguous=True)
    iterator = BatchIterator(dataset, batch_size=64, shuffle=True, seed=0)
    for _ in range(3):
        batches = [batch for batch, _ in iterator]
        assert all(len(b) <= 64 for b in batches)
        rows = torch.cat(batches)
        assert len(rows) == 200
        # The same rows, each exactly once: sort by the first feature.
        assert torch.equal(rows[:, 0].sort().values, X[:, 0].sort().values)
