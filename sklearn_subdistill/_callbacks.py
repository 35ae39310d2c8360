"""skorch callbacks that keep training honest: finite losses, clean interrupts.

Both read only what skorch already holds on the host (the float losses in the
history), so they add no device synchronisation to a training step.
"""

import math

from skorch.callbacks import Callback

__all__ = ["FiniteLossCheck", "KeepLastEpoch"]


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
