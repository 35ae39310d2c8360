"""What the teacher and the student share: parameters, training, prediction."""

import copy
import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import EarlyStopping

from ._net import ArrayDataset, BatchIterator, IndexSplit, SubclassNet
from .losses import class_logits
from .modules import MLP

#: Prefixes of the extra keyword parameters the estimators accept and pass on.
_ROUTED_PREFIXES = ("module__", "optimizer__")

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Rows per batch at inference: large enough to keep the device busy, small
#: enough that memory stays bounded by the batch, not by the number of rows.
INFERENCE_BATCH_SIZE = 8192

_NETWORK_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like"],
    "module": [None, type],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "callbacks": [None, list],
    "precision": [StrOptions({"fp32", "bf16", "fp16"})],
    "compile": ["boolean"],
}


def resolve_device(device):
    """The torch device string for ``device``; ``"auto"`` picks CUDA when present.

    Raises ``ValueError`` for an unknown device or one that is not available.
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
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available.")
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
        """Checks that ``_parameter_constraints`` cannot express."""
        unknown = sorted(
            k for k in self._extra_params() if not k.startswith(_ROUTED_PREFIXES)
        )
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown parameter(s) {unknown}; extra "
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
            signature = inspect.signature(module)
            takes_any = any(
                p.kind is p.VAR_KEYWORD for p in signature.parameters.values()
            )
            missing = {"n_features", "n_outputs"} - set(signature.parameters)
            if missing and not takes_any:
                raise TypeError(
                    f"module {module.__name__} must accept the keyword arguments "
                    f"n_features and n_outputs; missing {sorted(missing)}."
                )
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise TypeError(
                "optimizer must be one of 'adam', 'adamw', 'sgd' or a "
                f"torch.optim.Optimizer subclass, got {self.optimizer!r}."
            )
        return sizes, resolve_device(self.device)

    def _train_net(self, X, targets, *, n_outputs, criterion, stratify):
        """Build ``net_`` and train it on ``X`` (float array) and ``targets``."""
        sizes, device = self._check_network_params()
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        module_params = {"n_features": X.shape[1], "n_outputs": n_outputs}
        if self.module is None:
            module_params["hidden_layer_sizes"] = sizes
        module_params.update(self._routed_params("module__"))

        callbacks = copy.deepcopy(self.callbacks) if self.callbacks else []
        train_split = None
        if self.early_stopping:
            train_split = IndexSplit(
                *_validation_split(len(X), self.validation_fraction, stratify, seed)
            )
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
        optimizer_params = {
            f"optimizer__{k}": v for k, v in self._routed_params("optimizer__").items()
        }
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        net = SubclassNet(
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
            iterator_valid__batch_size=max(self.batch_size, INFERENCE_BATCH_SIZE),
            train_split=train_split,
            callbacks=callbacks,
            device=device,
            verbose=self.verbose,
            precision=self.precision,
            compile=self.compile,
            **{f"module__{k}": v for k, v in module_params.items()},
            **optimizer_params,
        )
        dataset = _training_dataset(X, targets, device)
        cuda_devices = [torch.device(device)] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            net.fit(dataset, y=None)
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        return self

    # -- prediction -----------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float32, np.float64))

    def _map_batches(self, X, fn, n_columns, dtype=np.float64):
        """Apply ``fn`` to the logits of each inference batch; collect in numpy.

        ``fn`` runs on the training device; only its (small) result moves to
        the host, into one preallocated array, so memory is bounded by the
        batch and the output, not by float64 copies of every logit.
        """
        X = self._validate_X(X)
        shape = (len(X),) if n_columns is None else (len(X), n_columns)
        out = np.empty(shape, dtype=dtype)
        start = 0
        for logits in self.net_.forward_iter(ArrayDataset(X), device=None):
            values = fn(logits).cpu().numpy()
            out[start : start + len(values)] = values
            start += len(values)
        return out

    def predict_subclass_log_proba(self, X):
        """Log-probability of each subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            ``log(transform(X))``, computed without underflow.
        """
        check_is_fitted(self)
        return self._map_batches(
            X,
            lambda z: F.log_softmax(z.double(), dim=1),
            len(self.classes_) * self.n_subclasses_,
        )

    def predict_log_proba(self, X):
        """Log-probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Class log-probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        n_classes = len(self.classes_)
        return self._map_batches(
            X,
            lambda z: class_logits(F.log_softmax(z.double(), dim=1), n_classes),
            n_classes,
        )

    def predict_proba(self, X):
        """Probability of each class: the sum of its subclasses' probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

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
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            Subclass probabilities; column ``k`` belongs to class
            ``classes_[k // n_subclasses_]``. Each row sums to one, and summing
            each class's block gives :meth:`predict_proba`.
            ``transform(X).argmax(axis=1)`` is :meth:`predict_subclass`.
        """
        return np.exp(self.predict_subclass_log_proba(X))

    def predict_subclass(self, X):
        """The most probable subclass of each sample (a hard assignment).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        subclass : ndarray of shape (n_samples,) of int
            Index in ``[0, n_classes * n_subclasses)``, the same as
            ``transform(X).argmax(axis=1)``; subclass ``k`` belongs to class
            ``classes_[k // n_subclasses_]``.
        """
        check_is_fitted(self)
        return self._map_batches(X, lambda z: z.argmax(dim=1), None, dtype=np.int64)

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _training_dataset(X, targets, device):
    """The training data as tensors on ``device``, or on the host if too large.

    On CUDA, data that would take more than half of the free device memory
    stay in host memory; batches are then copied to the device one by one.
    """
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
