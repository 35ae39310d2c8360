"""The skorch net both estimators train through, and its fast batch path.

Array inputs are wrapped in :class:`ArrayDataset`; :class:`BatchIterator`
(skorch's ``iterator_train`` / ``iterator_valid`` hook) then serves batches by
slicing whole tensors with a shuffled index instead of collating rows one by
one. A user's map-style Dataset (:class:`~._streaming.RowDataset`) is batched
the same way, by index; an iterable of batches
(:class:`~._streaming.BatchStream`) is used as it comes. Any other
``torch.utils.data.Dataset`` goes through a plain ``DataLoader``, skorch's
normal path. Callbacks, history and checkpoints are
skorch's own, untouched.

Inside a ``torch.distributed`` process group, every process draws the same
global batches and takes its own share of each (:func:`~._distributed.shard`).
"""

import math

import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader

from ._distributed import shard
from ._torch_datasets import ArrayDataset, BatchStream, RowDataset

__all__ = ["BatchIterator", "IndexSplit", "SubclassNet", "uncompiled"]


def uncompiled(module):
    """``module`` itself, not the wrapper ``torch.compile`` put around it.

    torch names the wrapped module only by the private ``_orig_mod``; this is
    the one place that reads it.
    """
    return getattr(module, "_orig_mod", module)


class BatchIterator:
    """Minibatches of a dataset: slices of an :class:`ArrayDataset`, else a DataLoader.

    Parameters
    ----------
    dataset : ArrayDataset, RowDataset, BatchStream or torch.utils.data.Dataset
        The data. A ``BatchStream`` yields its own batches, in its own order:
        ``batch_size`` and ``shuffle`` do not apply to it.
    batch_size : int
        Rows per batch; the last batch may be smaller. Within a process
        group, the global batch, of which this process takes its share.
    shuffle : bool, default=False
        Visit rows in a new random order every epoch.
    seed : int or None, default=None
        Seed of the shuffling generator, created once per iterator so that
        successive epochs continue one random stream.
    distributed : bool, default=False
        Within a ``torch.distributed`` process group, yield only this
        process's share of each batch (for training; prediction is per
        process and reads whole batches).
    **loader_params : dict
        Passed to ``DataLoader`` on the normal (non-array) path.
    """

    def __init__(
        self,
        dataset,
        batch_size,
        shuffle=False,
        seed=None,
        distributed=False,
        **loader_params,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.distributed = distributed
        self.generator = None
        if shuffle:
            self.generator = torch.Generator()
            if seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(int(seed))
        self.loader_params = loader_params

    def __len__(self):
        if isinstance(self.dataset, BatchStream):
            return len(self.dataset)
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        if isinstance(self.dataset, BatchStream):
            yield from self.dataset.batches(distributed=self.distributed)
            return
        if not isinstance(self.dataset, (ArrayDataset, RowDataset)):
            yield from DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                shuffle=self.shuffle,
                generator=self.generator,
                **self.loader_params,
            )
            return
        n_samples = len(self.dataset)
        if not self.shuffle:
            for start in range(0, n_samples, self.batch_size):
                stop = min(start + self.batch_size, n_samples)
                yield self.dataset.take(self._shard(slice(start, stop)))
            return
        if self.dataset.contiguous:
            yield from self._contiguous_batches(n_samples)
            return
        # A DataLoader draws one number for its workers' base seed before its
        # sampler draws the permutation; doing the same keeps both paths on
        # the same batches for the same seed.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        order = torch.randperm(n_samples, generator=self.generator)
        for start in range(0, n_samples, self.batch_size):
            yield self.dataset.take(self._shard(order[start : start + self.batch_size]))
        # ... and its RandomSampler draws one more permutation when exhausted
        # (for the remainder of num_samples % n, empty here).
        torch.randperm(n_samples, generator=self.generator)

    def _shard(self, index):
        return shard(index) if self.distributed else index

    def _contiguous_batches(self, n_samples):
        """Runs of ``batch_size`` rows in random order, boundaries shifted per epoch.

        Rows within a run stay together across epochs up to the random shift,
        so data stored in a meaningful order should be shuffled once on disk.
        """
        shift = int(torch.randint(self.batch_size, (), generator=self.generator))
        bounds = [0, *range(shift or self.batch_size, n_samples, self.batch_size)]
        bounds.append(n_samples)
        for i in torch.randperm(len(bounds) - 1, generator=self.generator).tolist():
            yield self.dataset.take(self._shard(slice(bounds[i], bounds[i + 1])))


class SubclassNet(NeuralNet):
    """skorch's ``NeuralNet`` with a choice of precision and fast inference.

    Parameters
    ----------
    *args, **kwargs
        As for ``skorch.NeuralNet``.
    precision : {"fp32", "bf16", "fp16", "fp64"}, default="fp32"
        ``"bf16"`` and ``"fp16"`` run the module's forward pass under
        ``torch.autocast``; the loss is computed in float32 from float32
        logits. ``"fp16"`` scales the loss with a ``torch.amp.GradScaler``.
        ``"fp64"`` makes the module's parameters float64 and casts each
        (float32) input batch to float64: logits, loss and gradients are
        float64.
    """

    def __init__(self, *args, precision="fp32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def initialize(self):
        """Initialise as skorch does, plus the gradient scaler for fp16."""
        super().initialize()
        self.scaler_ = None
        if self.precision == "fp16":
            self.scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self

    def initialize_module(self):
        """Build the module as skorch does; float64 parameters for fp64.

        Before the optimizer is built, so that it holds the float64 tensors.
        """
        super().initialize_module()
        if self.precision == "fp64":
            self.module_ = self.module_.double()
        return self

    def infer(self, x, **fit_params):
        """Forward pass (under autocast when asked); float32 logits out, or
        float64 for fp64."""
        forward = super().infer
        return self.in_precision(lambda x: forward(x, **fit_params), x)

    def in_precision(self, forward, x):
        """``forward(x)`` as this net runs a forward pass at its
        ``precision``: as it is (fp32); a floating ``x`` cast to float64
        (fp64); under ``torch.autocast``, the output cast to float32 (bf16,
        fp16)."""
        if self.precision == "fp32":
            return forward(x)
        if self.precision == "fp64":
            # Batches are stored as float32, which float64 holds exactly.
            x = to_tensor(x, device=self.device)
            if isinstance(x, torch.Tensor) and x.is_floating_point():
                x = x.double()
            return forward(x)
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(torch.device(self.device).type, dtype=dtype):
            return forward(x).float()

    def train_step_single(self, batch, **fit_params):
        """skorch's step, with the loss scaled before ``backward`` for fp16."""
        if self.scaler_ is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.scaler_.scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """skorch's step; with fp16 the scaler steps the optimizer."""
        if self.scaler_ is None:
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self.scaler_.step(self.optimizer_)
        self.scaler_.update()
        return step

    def evaluation_step(self, batch, training=False):
        """Forward pass of one batch for prediction, without autograd."""
        self.check_is_fitted()
        Xi, _ = unpack_data(batch)
        # Setting the mode writes to every submodule, a tenth of a one-row
        # prediction: only when one of them is in training mode.
        if training or any(m.training for m in self.module_.modules()):
            self._set_training(training)
        if training:
            with torch.no_grad():
                return self.infer(Xi)
        with torch.inference_mode():
            return self.infer(Xi)


class IndexSplit:
    """A fixed train/validation split by row indices, for skorch's ``train_split``.

    Parameters
    ----------
    train_index, valid_index : ndarray of int
        Row indices of the two parts.
    """

    def __init__(self, train_index, valid_index):
        self.train_index = train_index
        self.valid_index = valid_index

    def __call__(self, dataset, y=None, **fit_params):
        return dataset.subset(self.train_index), dataset.subset(self.valid_index)
