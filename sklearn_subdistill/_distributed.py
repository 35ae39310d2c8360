"""Data-parallel training on an initialised ``torch.distributed`` process group.

When ``fit`` runs inside a process group (launched by ``torchrun``), every
process calls the same ``fit`` on the same data, and the estimator trains one
model on all of them:

- every process draws the same seeded *global* batch of ``batch_size`` rows
  and takes its own contiguous slice of it (:func:`shard`), so the slices are
  disjoint and cover every row of every epoch;
- the module is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`
  for the fit (:func:`data_parallel`), which averages the gradients;
- the criterion sees the whole global batch (:class:`GlobalBatchLoss`): the
  logits of all processes are gathered with gradients, so that the auxiliary
  loss contrasts the rows of the global batch, as it does in one process;
- the history records the global batch sizes and rank 0's epoch values
  (:class:`AgreeOnHistory`), so early stopping decides the same on every
  process; only rank 0 prints.

Outside a process group (or in a group of one process) every function here is
the identity and nothing is communicated.
"""

import contextlib
import warnings

import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from torch import nn
from torch.distributed.nn.functional import all_gather as all_gather_with_grad
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "AgreeOnHistory",
    "GlobalBatchLoss",
    "agree_on_seed",
    "check_same_data",
    "data_parallel",
    "is_main_process",
    "shard",
    "world",
]


def world():
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` outside one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process():
    """Whether this process prints: rank 0, or the only process."""
    return world()[0] == 0


def shard(index):
    """This process's contiguous share of a global batch's rows.

    ``index`` is a slice (with a stop) or a 1-D index tensor or array. The
    ``world_size`` shares are disjoint, in rank order and as equal as can be
    (the first ``B % world_size`` ranks get one row more), so concatenating
    them in rank order gives the global batch back.
    """
    rank, world_size = world()
    if world_size == 1:
        return index
    if isinstance(index, slice):
        start, stop = index.start or 0, index.stop
        lo, hi = _share(stop - start, rank, world_size)
        return slice(start + lo, start + hi)
    lo, hi = _share(len(index), rank, world_size)
    return index[lo:hi]


def _share(n_rows, rank, world_size):
    base, extra = divmod(n_rows, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def agree_on_seed(seed):
    """Rank 0's ``seed`` on every process (``random_state=None`` draws differ)."""
    if world()[1] == 1:
        return seed
    value = torch.tensor([seed], dtype=torch.int64, device=_collective_device())
    dist.broadcast(value, src=0)
    return int(value.item())


def check_same_data(name, n_items, unit, n_features, n_outputs):
    """Raise ``ValueError`` unless every process passes data of the same shape.

    Every process must pass the same data: each trains on its share of every
    global batch. Processes with other numbers of batches would wait on each
    other's collectives forever; this check fails on every process at once,
    before training. (Data of the same shape but other values cannot be told
    apart here.)

    Parameters
    ----------
    name : str
        The estimator's name, for the message.
    n_items : int
        Rows of the training data, or batches of an iterable of batches.
    unit : {"rows", "batches"}
        What ``n_items`` counts.
    n_features, n_outputs : int
        Input columns and network outputs (classes times subclasses).
    """
    world_size = world()[1]
    if world_size == 1:
        return
    mine = torch.tensor(
        [n_items, n_features, n_outputs],
        dtype=torch.int64,
        device=_collective_device(),
    )
    shapes = [torch.empty_like(mine) for _ in range(world_size)]
    dist.all_gather(shapes, mine)
    shapes = [tuple(shape.tolist()) for shape in shapes]
    if len(set(shapes)) == 1:
        return
    found = "; ".join(
        f"rank {rank}: {n} {unit}, {f} features, {o} outputs"
        for rank, (n, f, o) in enumerate(shapes)
    )
    raise ValueError(
        f"{name} in a torch.distributed process group trains one model on the "
        "same data passed to every process (each takes its share of every "
        f"global batch), but the processes passed different data ({found}). "
        "Pass the whole data set (or the same chunk, or the same stream) on "
        "every process."
    )


@contextlib.contextmanager
def data_parallel(net):
    """Train ``net`` (initialised) data-parallel within this block.

    Wraps ``net.module_`` in ``DistributedDataParallel`` (which starts from
    rank 0's weights and averages gradients), ``net.criterion_`` in
    :class:`GlobalBatchLoss`, and unwraps both on the way out: the fitted net
    is a plain single-process net and predicts without any collective.
    """
    if world()[1] == 1:
        yield net
        return
    module, criterion, callbacks = net.module_, net.criterion_, net.callbacks_
    net.module_ = DistributedDataParallel(module)
    net.criterion_ = GlobalBatchLoss(criterion)
    # After skorch's own callbacks (which compute the epoch's losses), before
    # ours and the user's (which read them).
    defaults = {name for name, _ in net.get_default_callbacks()}
    at = next(
        (i for i, (name, _) in enumerate(callbacks) if name not in defaults),
        len(callbacks),
    )
    agree = ("agree_on_history", AgreeOnHistory().initialize())
    net.callbacks_ = [*callbacks[:at], agree, *callbacks[at:]]
    try:
        yield net
    finally:
        net.module_, net.criterion_ = module, criterion
        net.callbacks_ = callbacks
    # Every process leaves the fit together (and with the same weights).
    dist.barrier()


class GlobalBatchLoss(nn.Module):
    """``criterion`` over the global batch: the rows of every process, gathered.

    Every process computes the same loss, that of one process given the whole
    global batch. The logits are gathered with
    ``torch.distributed.nn.functional.all_gather``, whose backward sums the
    gradient every process sends to this process's rows: ``world_size`` times
    the gradient of the (shared) loss, which ``DistributedDataParallel``'s
    averaging brings back to the single-process gradient. The targets
    (tensors or tuples of tensors, one row per logit row) are gathered
    without gradient.

    Parameters
    ----------
    criterion : nn.Module
        The loss ``criterion(logits, target)`` of one batch.

    Attributes
    ----------
    global_batch_size_ : int
        Rows of the last global batch.
    """

    def __init__(self, criterion):
        super().__init__()
        self.criterion = criterion
        self.global_batch_size_ = 0

    def forward(self, logits, target):
        """The criterion's loss over the gathered logits and targets."""
        sizes = _gather_sizes(len(logits), logits.device)
        self.global_batch_size_ = sum(sizes)
        return self.criterion(
            _gather_rows(logits, sizes, grad=True), _gather_target(target, sizes)
        )


def _gather_sizes(n_rows, device):
    mine = torch.tensor([n_rows], device=device)
    sizes = [torch.zeros_like(mine) for _ in range(world()[1])]
    dist.all_gather(sizes, mine)
    return [int(size) for size in sizes]


def _gather_rows(tensor, sizes, grad=False):
    """The rows of every process's ``tensor``, in rank order.

    Collectives need tensors of one shape: each is padded to the largest
    share (the last global batch of an epoch may not split evenly), and the
    padding is cut off again.
    """
    padding = max(sizes) - len(tensor)
    if padding:
        # (n, ...) -> (max(sizes), ...)
        pad = tensor.new_zeros((padding, *tensor.shape[1:]))
        tensor = torch.cat([tensor, pad])
    if grad:
        with warnings.catch_warnings():
            # torch 2.13 points to a private module in its place.
            warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_ga")
            parts = all_gather_with_grad(tensor)
    else:
        parts = [torch.empty_like(tensor) for _ in sizes]
        dist.all_gather(parts, tensor.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])


def _gather_target(target, sizes):
    if isinstance(target, (tuple, list)):
        return type(target)(_gather_target(part, sizes) for part in target)
    return _gather_rows(target, sizes)


class AgreeOnHistory(Callback):
    """Keep the history the same on every process, as one process writes it.

    After each batch, the batch size recorded is the global batch's (the
    loss, from :class:`GlobalBatchLoss`, already is); after each epoch, rank
    0's values of the epoch's losses are broadcast, so that callbacks reading
    them (early stopping) take the same decision on every process. Must come
    before those callbacks.
    """

    def on_batch_end(self, net, training=None, **kwargs):
        prefix = "train" if training else "valid"
        size = net.criterion_.global_batch_size_
        net.history.record_batch(f"{prefix}_batch_size", size)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        keys = sorted(k for k in row if k.endswith("_loss") and row[k] is not None)
        values = torch.tensor(
            [float(row[k]) for k in keys],
            dtype=torch.float64,
            device=_collective_device(),
        )
        dist.broadcast(values, src=0)
        for key, value in zip(keys, values.tolist(), strict=True):
            net.history.record(key, value)


def _collective_device():
    """Where small tensors for collectives live: NCCL needs them on the GPU."""
    if dist.get_backend() == dist.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
