"""What the teacher and the student share: parameters, training, prediction."""

import copy
import inspect
import mmap
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import Callback, EarlyStopping

from ._callbacks import FiniteLossCheck, KeepLastEpoch
from ._net import ArrayDataset, BatchIterator, IndexSplit, SubclassNet
from ._streaming import (
    STREAM_NAME,
    BatchStream,
    RowDataset,
    Source,
    as_float32_tensor,
    check_float32_range,
    checked_batches,
    is_stream,
)
from .losses import class_logits
from .modules import MLP

#: Prefixes of the extra keyword parameters the estimators accept and pass on.
_ROUTED_PREFIXES = ("module__", "optimizer__")

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Names of the callbacks the estimators add to every net.
_OWN_CALLBACKS = ("finite_loss", "keep_last_epoch", "early_stopping")

#: Rows per batch at inference: large enough to keep the device busy, small
#: enough that memory stays bounded by the batch, not by the number of rows.
INFERENCE_BATCH_SIZE = 8192

#: Accelerator device types the estimators accept, with their names in messages.
_ACCELERATORS = {"cuda": "CUDA", "mps": "MPS", "xpu": "XPU"}


def _ordered(options):
    """A set-like view of ``options`` that iterates in their order.

    ``StrOptions`` lists its options in error messages in iteration order; a
    plain set of strings would list them in a different order in every
    process (string hashing is randomised).
    """
    return dict.fromkeys(options).keys()


_NETWORK_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "module": [None, type],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "optimizer": [StrOptions(_ordered(_OPTIMIZERS)), type],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "callbacks": [None, list],
    "precision": [StrOptions(_ordered(["fp32", "bf16", "fp16"]))],
    "compile": ["boolean"],
}


def resolve_device(device):
    """The torch device string for ``device``; ``"auto"`` picks CUDA when present.

    Raises ``ValueError`` for an unknown device, a device type the estimators
    do not train on, or one that is not available on this machine.
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or "
            "'cuda:N'."
        ) from exc
    if resolved.type == "cpu":
        return str(resolved)
    if resolved.type not in _ACCELERATORS:
        raise ValueError(
            f"device={device!r} is not supported: the estimators train on 'cpu', "
            "'cuda', 'cuda:N', 'mps' or 'xpu' (or 'auto')."
        )
    backend = getattr(torch, resolved.type, None)
    if backend is None or not backend.is_available():
        raise ValueError(
            f"device={device!r} was requested but {_ACCELERATORS[resolved.type]} is "
            "not available on this machine; use device='cpu' or device='auto'."
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"device={device!r} does not exist: this machine has {count} "
            f"{_ACCELERATORS[resolved.type]} device(s)."
        )
    return str(resolved)


class SubclassNetworkMixin(TransformerMixin):
    """Shared machinery of the subclass estimators (not public).

    Subclasses set ``classes_`` and ``n_subclasses_`` in ``fit`` and train
    through ``_train_net``.
    """

    # -- parameters -----------------------------------------------------------

    def _store_extra_params(self, extra):
        # Validated in fit, as scikit-learn asks: __init__ and set_params
        # only store what they are given.
        for key, value in extra.items():
            setattr(self, key, value)

    def _extra_params(self):
        """The ``**kwargs`` parameters: attributes that are not declared or fitted."""
        declared = set(self._get_param_names())
        return {
            key: value
            for key, value in vars(self).items()
            if key not in declared and not key.startswith("_") and not key.endswith("_")
        }

    def _routed_params(self, prefix):
        return {
            key[len(prefix) :]: value
            for key, value in self._extra_params().items()
            if key.startswith(prefix)
        }

    def get_params(self, deep=True):
        """Get parameters, including any ``module__*`` and ``optimizer__*`` ones.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of contained estimators (the teacher).

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {**super().get_params(deep=deep), **self._extra_params()}

    def set_params(self, **params):
        """Set parameters, including ``module__*`` and ``optimizer__*`` ones.

        Parameters
        ----------
        **params : dict
            Estimator parameters; ``<param>__<name>`` reaches a nested
            estimator (``teacher__n_subclasses``), ``module__<name>`` and
            ``optimizer__<name>`` the network and optimizer constructors.

        Returns
        -------
        self : estimator
            This estimator.
        """
        declared = set(self._get_param_names())
        nested, extra = {}, {}
        for key, value in params.items():
            owner = key.split("__", 1)[0]
            if key.startswith(_ROUTED_PREFIXES) or owner not in declared:
                extra[key] = value
            else:
                nested[key] = value
        self._store_extra_params(extra)
        if nested:
            super().set_params(**nested)
        return self

    # -- training -------------------------------------------------------------

    def _check_network_params(self):
        """Checks that ``_parameter_constraints`` cannot express.

        Returns the hidden layer sizes as a tuple and the resolved device.
        Runs before any network is built, so a bad parameter fails fast.
        """
        return self._network_sizes(), resolve_device(self.device)

    def _network_sizes(self):
        """Every check of ``_check_network_params`` but the device's availability."""
        name = type(self).__name__
        for key, constraints in self._parameter_constraints.items():
            value = getattr(self, key)
            # bool is an int to Python and to Interval; never a size or a rate.
            if isinstance(value, bool) and any(
                isinstance(c, Interval) for c in constraints
            ):
                raise InvalidParameterError(
                    f"The {key!r} parameter of {name} must be a number, not a bool. "
                    f"Got {value!r} instead."
                )
        unknown = sorted(
            k for k in self._extra_params() if not k.startswith(_ROUTED_PREFIXES)
        )
        if unknown:
            raise TypeError(
                f"{name} got unknown parameter(s) {unknown}; extra "
                f"parameters must start with {' or '.join(_ROUTED_PREFIXES)}."
            )
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive ints, got "
                f"{self.hidden_layer_sizes!r}."
            )
        module = self.module
        if module is not None:
            if not issubclass(module, torch.nn.Module):
                raise TypeError(
                    f"module must be a torch.nn.Module subclass, got {module!r}."
                )
            missing = {"n_features", "n_outputs"} - set(_keyword_names(module))
            if missing and not _takes_any_keyword(module):
                raise TypeError(
                    f"module {module.__name__} must accept the keyword arguments "
                    f"n_features and n_outputs; missing {sorted(missing)}."
                )
        reserved = {
            "n_features": "the number of columns of X",
            "n_outputs": "n_classes * n_subclasses",
        }
        if module is None:
            reserved["hidden_layer_sizes"] = "the hidden_layer_sizes parameter"
        self._check_routed_params("module__", module or MLP, reserved)
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        elif not issubclass(optimizer, torch.optim.Optimizer):
            raise TypeError(
                "optimizer must be one of 'adam', 'adamw', 'sgd' or a "
                f"torch.optim.Optimizer subclass, got {self.optimizer!r}."
            )
        self._check_routed_params(
            "optimizer__",
            optimizer,
            {"params": "the network's parameters", "lr": "the lr parameter"},
        )
        for item in self.callbacks or []:
            callback = item
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                if item[0] in _OWN_CALLBACKS:
                    raise ValueError(
                        f"callbacks: the name {item[0]!r} is used by {name} itself; "
                        "choose another name."
                    )
                callback = item[1]
            is_class = isinstance(callback, type) and issubclass(callback, Callback)
            if not (is_class or isinstance(callback, Callback)):
                raise TypeError(
                    "callbacks must be a list of skorch callbacks (or (name, "
                    f"callback) pairs), got an element {item!r}."
                )
        return sizes

    def _check_routed_params(self, prefix, target, reserved):
        """Check ``<prefix><name>`` parameters against ``target``'s constructor."""
        params = self._routed_params(prefix)
        clash = sorted(set(params) & set(reserved))
        if clash:
            raise ValueError(
                f"{prefix}{clash[0]} cannot be set: {type(self).__name__} passes "
                f"{clash[0]} itself ({reserved[clash[0]]})."
            )
        if _takes_any_keyword(target):
            return
        accepted = _keyword_names(target)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            valid = [f"{prefix}{k}" for k in accepted if k not in reserved]
            raise TypeError(
                f"{type(self).__name__} got {', '.join(prefix + k for k in unknown)}, "
                f"but {target.__name__} accepts no such argument; valid "
                f"{prefix}<name> parameters are {valid}."
            )

    def _make_net(self, *, sizes, n_features, n_outputs, criterion, device, seed=0):
        """The (uninitialised) skorch net for this estimator's parameters."""
        module_params = {"n_features": n_features, "n_outputs": n_outputs}
        if self.module is None:
            module_params["hidden_layer_sizes"] = sizes
        module_params.update(self._routed_params("module__"))
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        name = type(self).__name__
        remedy = (
            f"Try a lower lr (now {self.lr:g}) or standardised features (e.g. "
            "sklearn.preprocessing.StandardScaler)"
        )
        if self.precision == "fp16":
            remedy += ", or precision='bf16' or 'fp32'"
        # Ours come first: KeepLastEpoch must see an interrupt before user
        # callbacks or EarlyStopping restore their own weights.
        callbacks = [
            (
                "finite_loss",
                FiniteLossCheck(
                    name, remedy + ".", tolerate_batches=self.precision == "fp16"
                ),
            ),
            ("keep_last_epoch", KeepLastEpoch()),
            *(copy.deepcopy(self.callbacks) if self.callbacks else []),
        ]
        if self.early_stopping:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="abs",
                        load_best=True,
                        sink=print if self.verbose else _silent,
                    ),
                )
            )
        return SubclassNet(
            module=self.module or MLP,
            criterion=criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=seed,
            iterator_valid=BatchIterator,
            # Validation batches as large as training ones: the auxiliary loss
            # depends on the batch size, so valid_loss stays comparable.
            iterator_valid__batch_size=self.batch_size,
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=self.verbose,
            precision=self.precision,
            compile=self.compile,
            **{f"module__{k}": v for k, v in module_params.items()},
            **{
                f"optimizer__{k}": v
                for k, v in self._routed_params("optimizer__").items()
            },
        )

    def _start_stream_fit(self, X, y):
        """Checks of a fit on a streamed ``X``, before reading it; its Source.

        Also forgets what a previous fit learnt of the input's columns.
        """
        name = type(self).__name__
        if y is not None:
            raise ValueError(
                f"y must be None when X is {STREAM_NAME} ({type(X).__name__}): "
                f"{name} reads the labels from X's samples or batches, (x, y) pairs."
            )
        self._check_network_params()
        source = Source(X, "fit")
        if self.early_stopping and not source.random_access:
            raise ValueError(
                f"early_stopping=True needs a validation split drawn by index, which "
                f"an iterable of batches ({type(X).__name__}) cannot give. Pass a "
                "map-style torch Dataset (len and [i]) instead, or set "
                "early_stopping=False."
            )
        # A fit that fails from here on leaves the estimator unfitted.
        for attribute in ("net_", "n_features_in_", "feature_names_in_"):
            self.__dict__.pop(attribute, None)
        return source

    def _train_net(self, data, targets, *, n_outputs, criterion, stratify):
        """Build ``net_`` and train it.

        ``data`` is a float array with its ``targets``, or a streamed input
        already made a dataset (``RowDataset`` or ``BatchStream``, targets
        inside, ``targets=None``).
        """
        sizes, device = self._check_network_params()
        # A fit that fails from here on leaves the estimator unfitted, not
        # holding the previous fit's network beside the new fit's classes.
        for attribute in ("net_", "history_", "n_iter_"):
            self.__dict__.pop(attribute, None)
        name = type(self).__name__
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        streamed = isinstance(data, (RowDataset, BatchStream))
        net = self._make_net(
            sizes=sizes,
            n_features=data.n_features if streamed else data.shape[1],
            n_outputs=n_outputs,
            criterion=criterion,
            device=device,
            seed=seed,
        )
        if self.early_stopping:
            net.train_split = IndexSplit(
                *_validation_split(len(data), self.validation_fraction, stratify, seed)
            )
        dataset = data if streamed else _training_dataset(data, targets, device)
        cuda_devices = [torch.device(device)] if device.startswith("cuda") else []
        out_of_memory = None
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            try:
                net.fit(dataset, y=None)
            except torch.cuda.OutOfMemoryError as exc:
                # Keep only the text: the traceback holds the tensors alive.
                out_of_memory = str(exc).split("\n")[0]
        if out_of_memory is not None:
            del net, dataset
            _release_cached_memory(device)
            raise torch.cuda.OutOfMemoryError(
                f"{name} ran out of memory on {device} while training with "
                f"batch_size={self.batch_size}. Try a smaller batch_size, a smaller "
                "network, precision='bf16', or free the memory other models hold. "
                f"(torch: {out_of_memory})"
            )
        guard = dict(net.callbacks_)["keep_last_epoch"]
        self._interrupted_epoch = guard.interrupted_epoch_
        if guard.interrupted_epoch_ is not None:
            if guard.kept_epoch_ is None:
                raise KeyboardInterrupt(
                    f"{name}.fit was interrupted during epoch "
                    f"{guard.interrupted_epoch_}, before any epoch completed; no "
                    "model was kept."
                )
            warnings.warn(
                f"{name}.fit was interrupted (KeyboardInterrupt) during epoch "
                f"{guard.interrupted_epoch_}; the model keeps the weights of epoch "
                f"{guard.kept_epoch_}, the last completed one.",
                UserWarning,
                stacklevel=3,
            )
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        return self

    # -- prediction -----------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        check_float32_range(X)
        return X

    def _map_batches(self, X, fn, n_columns, dtype=np.float64):
        """Apply ``fn`` to the logits of each inference batch; collect in numpy.

        ``fn`` runs on the training device; only its (small) result moves to
        the host, into one preallocated array, so memory is bounded by the
        batch and the output, not by float64 copies of every logit. Batches
        hold ``INFERENCE_BATCH_SIZE`` rows, read when the method is called.
        """
        batch_size = INFERENCE_BATCH_SIZE
        if is_stream(X):
            check_is_fitted(self)
            batches = self._stream_batches(X, batch_size)
            out = []  # the number of rows is unknown until the end
        else:
            X = self._validate_X(X)
            batches = BatchIterator(ArrayDataset(X), batch_size=batch_size)
            shape = (len(X),) if n_columns is None else (len(X), n_columns)
            out = np.empty(shape, dtype=dtype)
        out_of_memory = None
        try:
            start = 0
            for batch in batches:
                values = fn(self.net_.evaluation_step(batch)).cpu().numpy()
                if isinstance(out, list):
                    out.append(np.array(values, dtype=dtype))
                else:
                    out[start : start + len(values)] = values
                start += len(values)
        except torch.cuda.OutOfMemoryError as exc:
            out_of_memory = str(exc).split("\n")[0]
        if out_of_memory is not None:
            device = str(self.net_.device)
            _release_cached_memory(device)
            raise torch.cuda.OutOfMemoryError(
                f"{type(self).__name__} ran out of memory on {device} while "
                f"predicting in batches of {batch_size} rows. Free the memory other "
                "tensors or models hold, or predict on the CPU: save the model with "
                "sklearn_subdistill.save and load it with device='cpu'. "
                f"(torch: {out_of_memory})"
            )
        if isinstance(out, list):
            if not out:
                raise ValueError(f"X ({type(X).__name__}) yielded no rows.")
            return np.concatenate(out)
        return out

    def _stream_batches(self, X, batch_size):
        """``(X_batch, None)`` float32 tensors of a streamed ``X``, each checked."""
        batches = checked_batches(
            Source(X, "predict"),
            batch_size,
            self.n_features_in_,
            fitted_by=type(self).__name__,
        )
        for features, _, _ in batches:
            yield as_float32_tensor(features), None

    def predict_subclass_log_proba(self, X):
        """Log-probability of each subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            ``log(transform(X))``, computed without underflow.
        """
        check_is_fitted(self)
        return self._map_batches(X, _log_proba, len(self.classes_) * self.n_subclasses_)

    def predict_log_proba(self, X):
        """Log-probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Class log-probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        n_classes = len(self.classes_)
        return self._map_batches(
            X,
            lambda z: class_logits(_log_proba(z), n_classes).clamp(max=0.0),
            n_classes,
        )

    def predict_proba(self, X):
        """Probability of each class: the sum of its subclasses' probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        proba = self.predict_log_proba(X)
        return np.exp(proba, out=proba)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The most probable class, as one of the labels seen in ``fit``.
        """
        index = self.predict_log_proba(X).argmax(axis=1)
        return self.classes_[index]

    def transform(self, X):
        """Probability of each subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            Subclass probabilities; column ``k`` belongs to class
            ``classes_[k // n_subclasses_]``. Each row sums to one, and summing
            each class's block gives :meth:`predict_proba`.
            ``transform(X).argmax(axis=1)`` is :meth:`predict_subclass`.
        """
        proba = self.predict_subclass_log_proba(X)
        return np.exp(proba, out=proba)

    def predict_subclass(self, X):
        """The most probable subclass of each sample (a hard assignment).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        subclass : ndarray of shape (n_samples,) of int
            Index in ``[0, n_classes * n_subclasses)``, the same as
            ``transform(X).argmax(axis=1)``; subclass ``k`` belongs to class
            ``classes_[k // n_subclasses_]``.
        """
        check_is_fitted(self)
        return self._map_batches(X, lambda z: z.argmax(dim=1), None, dtype=np.int64)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy of ``self.predict(X)``.
        """
        # Before predicting, so that a length mismatch costs no forward pass.
        check_consistent_length(X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def get_feature_names_out(self, input_features=None):
        """Names of the :meth:`transform` columns: ``subclass_<class>_<j>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per subclass, ``j`` counting within each class.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray(
            [
                f"subclass_{label}_{j}"
                for label in self.classes_
                for j in range(self.n_subclasses_)
            ],
            dtype=object,
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _log_proba(logits):
    """Float64 log-softmax, never above 0.

    Rounding can leave a log-probability a few ulps above 0, and its exp just
    above 1; the clamp keeps every probability in [0, 1].
    """
    return F.log_softmax(logits.double(), dim=1).clamp(max=0.0)


def _training_dataset(X, targets, device):
    """The training data as tensors on ``device``, or on the host if too large.

    On CUDA, data that would take more than half of the free device memory
    stay in host memory; batches are then copied to the device one by one.
    """
    if _is_memory_mapped(X):
        # Rows stay on disk: batches are contiguous runs converted one by one.
        return ArrayDataset(X, targets, contiguous=True)
    host = ArrayDataset(X, targets)
    if not device.startswith("cuda"):
        return host.to(device)
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    if X.shape[0] * X.shape[1] * 4 < free / 2:
        try:
            return host.to(device)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
    warnings.warn(
        "The training data do not fit comfortably on the GPU; streaming batches "
        "from host memory (slower).",
        UserWarning,
        stacklevel=4,
    )
    return host.to("cpu")


def _is_memory_mapped(X):
    """Whether ``X`` (or an array it is a view of) is mapped from a file."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


def _validation_split(n_samples, fraction, stratify, seed):
    indices = np.arange(n_samples)
    try:
        return train_test_split(
            indices, test_size=fraction, stratify=stratify, random_state=seed
        )
    except ValueError:
        # Too few rows of some class to stratify; split at random instead.
        return train_test_split(indices, test_size=fraction, random_state=seed)


def _silent(*args, **kwargs):
    pass


def _keyword_names(cls):
    """The argument names ``cls(...)`` accepts by keyword."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _takes_any_keyword(cls):
    """Whether ``cls(...)`` takes ``**kwargs`` (or has no readable signature)."""
    if getattr(cls, "__init__", None) is torch.nn.Module.__init__:
        return False  # Module's own (*args, **kwargs) accepts no argument
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def _release_cached_memory(device):
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
