"""skorch callbacks that keep training honest: finite losses, clean interrupts,
early stopping network by network.

The first two read only what skorch already holds on the host (the float
losses in the history), so they add no device synchronisation to a training
step.
"""

import copy
import math

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.nn.parallel import DistributedDataParallel

from ._distributed import GlobalBatchLoss
from ._net import uncompiled

__all__ = ["FiniteLossCheck", "KeepLastEpoch", "NetworkwiseEarlyStopping"]


class FiniteLossCheck(Callback):
    """Stop training with ``FloatingPointError`` once the loss is NaN or infinite.

    The check reads the batch loss skorch has already recorded in the history
    (a Python float), so it costs a dictionary lookup per batch.

    Parameters
    ----------
    estimator_name : str
        Name used in the message.
    remedy : str
        What to try instead, appended to the message.
    tolerate_batches : bool, default=False
        Allow single non-finite batches (fp16 with a gradient scaler, which
        skips those steps); fail only when a whole epoch has no finite batch.
    """

    def __init__(self, estimator_name, remedy, tolerate_batches=False):
        self.estimator_name = estimator_name
        self.remedy = remedy
        self.tolerate_batches = tolerate_batches

    def initialize(self):
        self.finite_batches_ = 0
        self.batches_ = 0
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.finite_batches_ = 0
        self.batches_ = 0

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        self.batches_ += 1
        loss = net.history[-1]["batches"][-1]["train_loss"]
        if math.isfinite(loss):
            self.finite_batches_ += 1
        elif not self.tolerate_batches:
            self._fail(net, loss, f" (batch {self.batches_})")

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        if self.batches_ and not self.finite_batches_:
            self._fail(net, row["train_loss"], " (every batch)")
        valid = row.get("valid_loss")
        if valid is not None and not math.isfinite(valid):
            self._fail(net, valid, "", which="validation")

    def _fail(self, net, loss, where, which="training"):
        epoch = net.history[-1]["epoch"]
        raise FloatingPointError(
            f"{self.estimator_name}: the {which} loss became {loss} at epoch "
            f"{epoch}{where}; training stopped. {self.remedy}"
        )


class KeepLastEpoch(Callback):
    """On an interrupt during an epoch, go back to the last completed epoch.

    skorch ends training quietly on ``KeyboardInterrupt``, keeping the weights
    of the moment it arrived: in the middle of an epoch, possibly in the middle
    of an optimizer step. This callback copies the module's state at the end
    of every epoch (on the module's device: no host transfer) and, when
    training ends inside an epoch, restores that copy and drops the unfinished
    epoch from the history.

    An interrupt raised *between* epochs, by ``EarlyStopping`` or another
    callback's ``on_epoch_end``, is an ordinary stop and is left alone; so this
    callback must come before such callbacks.

    Attributes
    ----------
    interrupted_epoch_ : int or None
        The unfinished epoch, after an interrupt; None otherwise.
    kept_epoch_ : int or None
        The epoch whose weights were restored (None if none had completed).
    """

    def initialize(self):
        self.snapshot_ = None
        self.in_epoch_ = False
        self.interrupted_epoch_ = None
        self.kept_epoch_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.initialize()

    def on_epoch_begin(self, net, **kwargs):
        self.in_epoch_ = True

    def on_epoch_end(self, net, **kwargs):
        state = {
            key: value.detach().clone()
            for key, value in net.module_.state_dict().items()
        }
        # One assignment, so an interrupt never leaves a half-written snapshot.
        self.snapshot_ = (net.history[-1]["epoch"], state)
        self.in_epoch_ = False

    def on_train_end(self, net, **kwargs):
        snapshot, self.snapshot_ = self.snapshot_, None  # free the copy
        if not self.in_epoch_:
            return
        self.in_epoch_ = False
        self.interrupted_epoch_ = net.history[-1]["epoch"]
        if snapshot is None:
            return
        self.kept_epoch_, state = snapshot
        net.module_.load_state_dict(state)
        while net.history and net.history[-1]["epoch"] > self.kept_epoch_:
            del net.history[-1]

    def __getstate__(self):
        # Never pickle the weights twice (nor device tensors outside of the
        # net's own device-aware pickling).
        state = self.__dict__.copy()
        state["snapshot_"] = None
        return state


class NetworkwiseEarlyStopping(Callback):
    """skorch's ``EarlyStopping``, for each network of a two-network teacher.

    A :class:`~sklearn_subdistill.modules.SubclassHeadNetwork` trains two
    networks that do not share a gradient: the class network (``body``) and
    the subclass network (``subclass_net``). One stopping epoch for both
    would cut the subclass network where the class network stopped
    improving. Here each network keeps its own record, with the rule of
    ``skorch.callbacks.EarlyStopping(monitor, patience, threshold,
    threshold_mode="abs", load_best=True)``:

    - the class network on ``valid_loss`` (the class cross-entropy of its
      validation rows), so it stops, and ends, as the network without
      subclasses does;
    - the subclass network on ``valid_subclass_loss``: ``subclass_loss`` (the
      paper's single-network loss,
      :class:`~sklearn_subdistill.modules.SubclassTeacherLoss` with one head)
      of its logits on the validation batches, the loss the paper's network
      stops on, recorded in the history.

    A network whose loss has not improved by ``threshold`` for ``patience``
    epochs is done: its best epoch is final, and later epochs (which go on
    training it, as they go on training a network beside it) do not count.
    Training stops once both are done; at the end each network gets back the
    weights of its own best epoch.

    Parameters
    ----------
    subclass_loss : torch.nn.Module
        The subclass network's validation loss, called with its logits and
        the batch's target.
    patience : int
        Epochs without improvement before a network is done.
    threshold : float
        Smallest decrease of a loss that counts as an improvement.
    sink : callable, default=print
        Receives the messages, when the net is verbose.
    """

    def __init__(self, subclass_loss, patience, threshold, sink=print):
        self.subclass_loss = subclass_loss
        self.patience = patience
        self.threshold = threshold
        self.sink = sink

    def on_train_begin(self, net, **kwargs):
        self.records_ = {
            part: {"threshold": np.inf, "misses": 0, "best_epoch": 0, "weights": None}
            for part in ("body", "subclass_net")
        }
        # data-parallel (inside ``data_parallel``): over the global batch, as
        # the net's own criterion computes valid_loss
        self.criterion_ = self.subclass_loss
        if isinstance(net.criterion_, GlobalBatchLoss):
            self.criterion_ = GlobalBatchLoss(self.subclass_loss)

    def on_epoch_begin(self, net, **kwargs):
        self.sums_ = [0.0, 0]

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            return
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            loss = self.criterion_(_subclass_logits(net, Xi), to_tensor(yi, net.device))
        # data-parallel: the global batch's rows, as skorch weighs valid_loss
        size = getattr(self.criterion_, "global_batch_size_", None) or len(Xi)
        self.sums_[0] += loss.item() * size
        self.sums_[1] += size

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        subclass_loss = self.sums_[0] / max(self.sums_[1], 1)
        net.history.record("valid_subclass_loss", subclass_loss)
        losses = {"body": row["valid_loss"], "subclass_net": subclass_loss}
        module = _unwrapped(net.module_)
        for part, loss in losses.items():
            record = self.records_[part]
            if record["misses"] == self.patience:
                continue  # done: its best epoch is final
            if loss < record["threshold"]:
                record.update(threshold=loss - self.threshold, misses=0)
                record["best_epoch"] = row["epoch"]
                record["weights"] = copy.deepcopy(getattr(module, part).state_dict())
            else:
                record["misses"] += 1
        if all(r["misses"] == self.patience for r in self.records_.values()):
            if net.verbose:
                self.sink(
                    "Stopping since neither valid_loss nor valid_subclass_loss "
                    f"has improved in its last {self.patience} epochs."
                )
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        module = _unwrapped(net.module_)
        for part, record in self.records_.items():
            if record["weights"] is not None:
                getattr(module, part).load_state_dict(record["weights"])
                record["weights"] = None  # free the copy
        if net.verbose:
            self.sink(
                "Restoring the class network from epoch "
                f"{self.records_['body']['best_epoch']} and the subclass network "
                f"from epoch {self.records_['subclass_net']['best_epoch']}."
            )


def _unwrapped(module):
    """The module itself, not its data-parallel or compiled wrapper."""
    if isinstance(module, DistributedDataParallel):
        module = module.module
    return uncompiled(module)


def _subclass_logits(net, X):
    """The subclass network's logits of a batch, run as the net runs a
    forward pass at its precision."""
    module = _unwrapped(net.module_)
    X = to_tensor(X, device=net.device)
    return net.in_precision(lambda x: module.class_and_subclass_logits(x)[1], X)
