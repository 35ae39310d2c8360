"""What the teacher and the student share: one fit path, and prediction.

:class:`SubclassNetworkMixin.fit <SubclassNetworkMixin._fit>` is a template
method: it resolves the network parameters once, reads the input into one
:class:`~._data.TrainingData`, asks the estimator for what differs (its
classes, extra targets and criterion: ``_fit_classes``, ``_extra_targets``,
``_make_criterion``), and trains one net.
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.history import History

from . import _data
from ._data import read_training_data
from ._datasets import ArrayDataset
from ._net import BatchIterator
from ._params import RoutedParamsMixin, resolve_network_params
from ._streaming import (
    Source,
    as_float32_tensor,
    check_float32_range,
    checked_batches,
    is_stream,
)
from ._training import make_net, release_cached_memory, run_fit
from .losses import class_logits

#: Every attribute a fit sets: cleared when a fit starts, so that a fit that
#: fails leaves the estimator unfitted; written and read by save and load.
FITTED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "n_subclasses_",
    "teacher_",
    "net_",
    "history_",
    "n_iter_",
)


def check_two_classes(estimator, classes):
    """A classifier needs labels of at least two classes."""
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes; got 1 "
            f"class ({classes[0].tolist()!r})."
        )


class SubclassNetworkMixin(RoutedParamsMixin, TransformerMixin):
    """Shared machinery of the subclass estimators (not public).

    Subclasses call :meth:`_fit` from ``fit`` and supply what differs:

    - ``_semi_supervised``: whether ``-1`` marks unlabelled rows;
    - ``_fit_classes(data)``: the classes and subclasses per class, after
      any preparation (the student fits its teacher here);
    - ``_extra_targets(X)`` (or None): targets besides the class index, a
      tuple of arrays with one row per row of ``X`` (the student's teacher
      logits);
    - ``_make_criterion(n_classes)``: the training loss;
    - ``_network_config(config, n_classes, n_subclasses)``: the network, if
      it is not the configured module itself (the teacher's subclass head).
    """

    _semi_supervised = False
    _extra_targets = None

    def _network_config(self, config, n_classes, n_subclasses):
        """The configuration the net is built from, once the classes are known."""
        return config

    # -- training -------------------------------------------------------------

    def _fit(self, X, y):
        """Fit on any input ``fit`` accepts: the one training path."""
        config = resolve_network_params(self)
        # A fit that fails from here on leaves the estimator unfitted, not
        # holding the previous fit's network beside the new fit's classes.
        # (validate_data manages the attributes that describe X's columns.)
        for attribute in FITTED_ATTRIBUTES[2:]:
            self.__dict__.pop(attribute, None)
        data = read_training_data(self, X, y, semi_supervised=self._semi_supervised)
        classes, n_subclasses = self._fit_classes(data)
        config = self._network_config(config, len(classes), n_subclasses)
        dataset, stratify = data.dataset(classes, self._extra_targets, config.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        net = make_net(
            self,
            config,
            n_features=data.n_features,
            n_outputs=len(classes) * n_subclasses,
            criterion=self._make_criterion(len(classes)),
            seed=seed,
        )
        self.net_ = run_fit(self, net, dataset, seed=seed, stratify=stratify)
        self.classes_ = classes
        self.n_subclasses_ = n_subclasses
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        return self

    def _restore(self, fitted, device):
        """Rebuild the estimator from saved state (see ``persistence``).

        ``fitted`` maps the names of :data:`FITTED_ATTRIBUTES` to their saved
        values, except ``net_`` (the module's state dict) and ``history_``
        (a list of rows); None for an unfitted estimator, whose parameters
        are only checked. The network is rebuilt on ``device``.
        """
        self._validate_params()
        config = resolve_network_params(self, device=device)
        if fitted is None:
            return self
        fitted = dict(fitted)
        state_dict, history = fitted.pop("net_"), fitted.pop("history_")
        for name, value in fitted.items():
            setattr(self, name, value)
        n_classes = len(self.classes_)
        config = self._network_config(config, n_classes, self.n_subclasses_)
        net = make_net(
            self,
            config,
            n_features=self.n_features_in_,
            n_outputs=n_classes * self.n_subclasses_,
            criterion=self._make_criterion(n_classes),
        )
        # Building the network draws initial weights; keep the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            net.initialize()
        module = getattr(net.module_, "_orig_mod", net.module_)
        try:
            module.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise ValueError(
                "The saved weights do not fit the network the saved parameters "
                f"build: {str(exc).splitlines()[0]}"
            ) from exc
        net.history = History(history)
        self.net_ = net
        self.history_ = net.history
        return self

    # -- prediction -----------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        if not _passes_validation_as_is(self, X):
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
        batch_size = _data.INFERENCE_BATCH_SIZE
        if is_stream(X):
            check_is_fitted(self)
            batches = self._stream_batches(X, batch_size)
            out = []  # the number of rows is unknown until the end
        else:
            X = self._validate_X(X)
            batches = BatchIterator(ArrayDataset(X), batch_size=batch_size)
            if len(X) <= batch_size:  # one batch: skip the iterator's machinery
                batches = [ArrayDataset(X).take(slice(None))]
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
            release_cached_memory(device)
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


def _passes_validation_as_is(estimator, X):
    """Whether ``validate_data`` would return ``X`` unchanged, without a warning.

    True for the common case, a non-empty 2-D float32 or float64 ndarray of
    finite values and the fitted width, for an estimator fitted without
    feature names: checked in microseconds, where ``validate_data`` takes
    tens (most of a one-row prediction). Anything else, valid or not, goes
    through ``validate_data`` and gets its conversions and error messages.
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] == estimator.n_features_in_
        and not hasattr(estimator, "feature_names_in_")
        # NaN and infinities make the sum non-finite (so can an overflow,
        # which then takes the full check).
        and np.isfinite(X.sum())
    )


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _log_proba(logits):
    """Float64 log-softmax, never above 0.

    Rounding can leave a log-probability a few ulps above 0, and its exp just
    above 1; the clamp keeps every probability in [0, 1].
    """
    return F.log_softmax(logits.double(), dim=1).clamp(max=0.0)
