"""Building the skorch net from a resolved configuration, and running its fit.

:func:`make_net` turns a :class:`~._params.NetworkConfig` into a
:class:`~._net.SubclassNet`; :func:`run_fit` trains
it under a fixed seed and turns torch's out-of-memory errors and interrupts
into messages that say what to do.
"""

import contextlib
import contextvars
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from skorch.callbacks import EarlyStopping, ProgressBar

from ._callbacks import FiniteLossCheck, KeepLastEpoch, NetworkwiseEarlyStopping
from ._distributed import check_same_data, data_parallel
from ._net import BatchIterator, IndexSplit, SubclassNet
from ._torch_datasets import BatchStream
from .modules import SubclassTeacherLoss

#: Set while a student fits its teacher: the student's name, so that an
#: interrupt of the teacher's fit stops the student's fit too.
_INTERRUPT_OWNER = contextvars.ContextVar("interrupt_owner", default=None)


@contextlib.contextmanager
def interrupts_stop(owner_name):
    """Within this block, an interrupted fit raises ``KeyboardInterrupt``.

    A fit interrupted on its own keeps its last completed epoch and warns; a
    fit run for ``owner_name`` (a student fitting its teacher) must stop the
    owner's fit as well: one Ctrl-C stops everything.
    """
    token = _INTERRUPT_OWNER.set(owner_name)
    try:
        yield
    finally:
        _INTERRUPT_OWNER.reset(token)


def make_net(config, *, n_features, n_outputs, criterion, seed=0):
    """The (uninitialised) skorch net of ``config``, a :class:`NetworkConfig`."""
    callbacks = _callbacks(config, criterion)
    module_params = {"n_features": n_features, "n_outputs": n_outputs}
    module_params.update(config.module_params)
    return SubclassNet(
        module=config.module,
        criterion=criterion,
        optimizer=config.optimizer,
        lr=config.lr,
        max_epochs=config.max_epochs,
        batch_size=config.batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__distributed=True,
        iterator_valid=BatchIterator,
        iterator_valid__distributed=True,
        # Validation batches as large as training ones: the auxiliary loss
        # depends on the batch size, so valid_loss stays comparable.
        iterator_valid__batch_size=config.batch_size,
        train_split=None,
        callbacks=callbacks,
        device=config.device,
        verbose=config.verbose,
        precision=config.precision,
        compile=config.compile,
        **{f"module__{k}": v for k, v in module_params.items()},
        **{f"optimizer__{k}": v for k, v in config.optimizer_params.items()},
    )


def _callbacks(config, criterion):
    """The net's callbacks: ours first, then the user's, then early stopping
    (network by network for a criterion that has a subclass network's loss)."""
    remedy = (
        f"Try a lower lr (now {config.lr:g}) or standardised features (e.g. "
        "sklearn.preprocessing.StandardScaler)"
    )
    if config.precision == "fp16":
        remedy += ", or precision='bf16' or 'fp32'"
    # Ours come first: KeepLastEpoch must see an interrupt before user
    # callbacks or EarlyStopping restore their own weights.
    callbacks = [
        (
            "finite_loss",
            FiniteLossCheck(
                config.name, remedy + ".", tolerate_batches=config.precision == "fp16"
            ),
        ),
        ("keep_last_epoch", KeepLastEpoch()),
        *config.callbacks,
    ]
    if config.verbose >= 2:
        # "auto" counts the batches of the first epoch, then shows a bar.
        callbacks.append(("progress_bar", ProgressBar()))
    subclass_loss = None
    if isinstance(criterion, SubclassTeacherLoss):
        subclass_loss = criterion.subclass_network_loss()
    if config.early_stopping and subclass_loss is not None:
        callbacks.append(
            (
                "early_stopping",
                NetworkwiseEarlyStopping(
                    subclass_loss,
                    patience=config.n_iter_no_change,
                    threshold=config.tol,
                    sink=print if config.verbose else _silent,
                ),
            )
        )
    elif config.early_stopping:
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_loss",
                    patience=config.n_iter_no_change,
                    threshold=config.tol,
                    threshold_mode="abs",
                    load_best=True,
                    sink=print if config.verbose else _silent,
                ),
            )
        )
    return callbacks


def continue_net(net, fresh, criterion):
    """Carry the settings of ``fresh`` (a new, unbuilt net) onto ``net``.

    For a fit that continues ``net``'s training (``warm_start`` or
    ``partial_fit``): its module and optimizer, with their state, stay; the
    learning rate, optimizer arguments, batch size, shuffling seed,
    callbacks, verbosity and criterion become those of ``fresh``. Raises
    ``ValueError`` if ``fresh`` is another network or optimizer.
    """
    for part in ("module", "optimizer"):
        old, new = _component_params(net, part), _component_params(fresh, part)
        if part == "optimizer":
            # skorch sets these on the optimizer's parameter groups in place.
            old, new = old[part], new[part]
        if old != new:
            raise ValueError(
                f"warm_start=True and partial_fit continue the fitted network, but "
                f"the parameters now describe another {part} ({new!r} instead of "
                f"{old!r}). Set warm_start=False (or call fit) to train a new one."
            )
    for key, value in vars(fresh).items():
        if key.startswith("iterator_"):
            # Read when the next epoch's iterator is built; nothing to rebuild.
            setattr(net, key, value)
    net.set_params(
        lr=fresh.lr,
        batch_size=fresh.batch_size,
        max_epochs=fresh.max_epochs,
        verbose=fresh.verbose,
        **{k: v for k, v in vars(fresh).items() if k.startswith("optimizer__")},
    )
    net.callbacks = fresh.callbacks
    net.initialize_callbacks()
    net.criterion = criterion
    net.initialize_criterion()
    return net


def _component_params(net, part):
    return {
        key: value
        for key, value in vars(net).items()
        if key == part or key.startswith(part + "__")
    }


def run_fit(config, net, dataset, *, seed, stratify=None, epochs=None):
    """Train ``net`` on ``dataset`` (seeded); return it, or raise a clear error.

    ``config`` is the :class:`NetworkConfig` ``net`` was made from. If it
    stops early, a validation split is drawn from the rows, stratified by
    ``stratify`` where it can be.
    ``epochs``: train ``net`` for that many epochs with skorch's
    ``partial_fit``, its module, optimizer state and history kept if it is
    initialised; None trains it from scratch (as skorch's ``fit``). Inside a
    ``torch.distributed`` process group the net trains data-parallel (see
    ``_distributed``).
    """
    name = config.name
    device = str(net.device)
    check_same_data(
        name,
        len(dataset),
        "batches" if isinstance(dataset, BatchStream) else "rows",
        net.module__n_features,
        net.module__n_outputs,
    )
    net.train_split = None
    if config.early_stopping:
        net.train_split = IndexSplit(
            *_validation_split(len(dataset), config.validation_fraction, stratify, seed)
        )
    cuda_devices = [torch.device(device)] if device.startswith("cuda") else []
    out_of_memory = None
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        try:
            if epochs is None or not net.initialized_:
                # skorch's fit, or a first partial_fit: a new module and
                # optimizer (here, so that data_parallel finds them).
                net.initialize()
            # Within a process group, the module is data-parallel.
            with data_parallel(net):
                net.partial_fit(dataset, y=None, epochs=epochs)
        except torch.cuda.OutOfMemoryError as exc:
            # Keep only the text: the traceback holds the tensors alive.
            out_of_memory = str(exc).split("\n")[0]
    if out_of_memory is not None:
        del net, dataset
        release_cached_memory(device)
        raise torch.cuda.OutOfMemoryError(
            f"{name} ran out of memory on {device} while training with "
            f"batch_size={config.batch_size}. Try a smaller batch_size, a smaller "
            "network, precision='bf16', or free the memory other models hold. "
            f"(torch: {out_of_memory})"
        )
    _handle_interrupt(name, dict(net.callbacks_)["keep_last_epoch"])
    return net


def _handle_interrupt(name, guard):
    if guard.interrupted_epoch_ is None:
        return
    if guard.kept_epoch_ is None:
        raise KeyboardInterrupt(
            f"{name}.fit was interrupted during epoch {guard.interrupted_epoch_}, "
            "before any epoch completed; no model was kept."
        )
    warnings.warn(
        f"{name}.fit was interrupted (KeyboardInterrupt) during epoch "
        f"{guard.interrupted_epoch_}; the model keeps the weights of epoch "
        f"{guard.kept_epoch_}, the last completed one.",
        UserWarning,
        stacklevel=5,
    )
    owner = _INTERRUPT_OWNER.get()
    if owner is not None:
        raise KeyboardInterrupt(
            f"{owner}.fit was interrupted while fitting its teacher; the student "
            "was not trained."
        )


def _validation_split(n_samples, fraction, stratify, seed):
    indices = np.arange(n_samples)
    try:
        return train_test_split(
            indices, test_size=fraction, stratify=stratify, random_state=seed
        )
    except ValueError:
        # Too few rows of some class to stratify; split at random instead.
        return train_test_split(indices, test_size=fraction, random_state=seed)


def release_cached_memory(device):
    """Hand the CUDA caching allocator's free blocks back after an OOM."""
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _silent(*args, **kwargs):
    pass
