"""What the teacher and the student share: one fit path (prediction: ``_prediction``).

:class:`SubclassNetworkMixin.fit <SubclassNetworkMixin._fit>` is a template
method: it resolves the parameters once into a
:class:`~._params.NetworkConfig`, which the layers below take in place of the
estimator, reads the input into one :class:`~._training_data.TrainingData`
(recording its columns itself), asks the estimator for what differs (its
classes, extra targets and criterion: ``_fit_classes``, ``_extra_targets``,
``_make_criterion``), and trains one net.
"""

import warnings

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from skorch.history import History

from ._devices import usable_device
from ._distributed import agree_on_seed
from ._net import uncompiled
from ._params import RoutedParamsMixin, resolve_network_params
from ._prediction import SubclassPredictionMixin
from ._streaming import STREAM_NAME, is_stream
from ._training import continue_net, make_net, run_fit
from ._training_data import read_training_data

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
    "subclass_weight_",  # a student's
    "subclass_weight_scores_",  # a student's
    "class_mass_",  # a student's
)


def check_two_classes(estimator, classes):
    """A classifier needs labels of at least two classes."""
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes; got 1 "
            f"class ({classes[0].tolist()!r})."
        )


class SubclassNetworkMixin(
    RoutedParamsMixin, SubclassPredictionMixin, TransformerMixin
):
    """Shared machinery of the subclass estimators (not public).

    Subclasses call :meth:`_fit` from ``fit`` and supply what differs:

    - ``_semi_supervised``: whether ``-1`` marks unlabelled rows;
    - ``_fit_classes(data, classes)``: the classes and subclasses per class,
      after any preparation (the student fits its teacher here);
      ``classes`` is ``partial_fit``'s argument (None in ``fit``);
    - ``_extra_targets(X)`` (or None): targets besides the class index, a
      tuple of arrays with one row per row of ``X`` (the student's teacher
      logits);
    - ``_make_criterion(n_classes, n_subclasses)``: the training loss;
    - ``_check_continuable()``: raise if the parameters now describe another
      network than the fitted one (before ``warm_start`` or ``partial_fit``
      goes on training it);
    - ``_network_config(config, n_classes, n_subclasses)``: the network, if
      it is not the configured module itself (the teacher's subclass head).
    """

    _semi_supervised = False
    _extra_targets = None

    def __setstate__(self, state):
        """Unpickle; a device this machine lacks becomes the CPU (with a warning).

        skorch moves the network's tensors to the CPU when the device it was
        pickled on is missing; the ``device`` parameter follows, so that the
        model also trains here.
        """
        super().__setstate__(state)
        device = self.__dict__.get("device")
        if device is None or usable_device(device):
            return
        self.device = "cpu"
        warnings.warn(
            f"{type(self).__name__} was pickled with device={str(device)!r}, which "
            "this machine does not have; its device parameter is now 'cpu'.",
            UserWarning,
            stacklevel=2,
        )

    def _float_dtype(self):
        """The numpy dtype of float targets (weights, teacher logits)."""
        return np.float64 if self.precision == "fp64" else np.float32

    def _network_config(self, config, n_classes, n_subclasses):
        """The configuration the net is built from, once the classes are known."""
        return config

    def _check_continuable(self):
        """Nothing here; the teacher checks its ``n_subclasses``."""

    # -- training -------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None):
        """Fit on any input ``fit`` accepts: the one training path.

        ``incremental``: a ``partial_fit``, one epoch; ``classes`` its
        argument. With ``incremental`` or ``warm_start``, a fitted
        estimator's network goes on training (skorch's ``partial_fit``, the
        optimizer's state kept); otherwise a new one is trained.
        """
        config = resolve_network_params(self, incremental=incremental)
        if incremental:
            self._check_partial_fit_input(X)
        continuing = hasattr(self, "net_") and (incremental or self.warm_start)
        fitted_columns = None
        if continuing:
            self._check_continuable()
            fitted_columns = (
                self.n_features_in_,
                getattr(self, "feature_names_in_", None),
            )
        else:
            # A fit that fails from here on leaves the estimator unfitted, not
            # holding the previous fit's network beside the new fit's classes.
            for attribute in FITTED_ATTRIBUTES:
                self.__dict__.pop(attribute, None)
        data = read_training_data(
            config,
            X,
            y,
            semi_supervised=self._semi_supervised,
            sample_weight=sample_weight,
            fitted_columns=fitted_columns,
        )
        if not continuing:
            self.n_features_in_ = data.n_features
            if data.feature_names is not None:
                self.feature_names_in_ = data.feature_names
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        seed = agree_on_seed(seed)  # within a process group: rank 0's
        if continuing:
            classes = self._check_known_input(data, classes, self.n_features_in_)
            n_subclasses = self.n_subclasses_
            # Another shuffle than the previous fits', still reproducible.
            seed = (seed + len(self.net_.history)) % np.iinfo(np.int32).max
        else:
            classes, n_subclasses = self._fit_classes(
                data, classes, incremental=incremental
            )
        config = self._network_config(config, len(classes), n_subclasses)
        device = str(self.net_.device) if continuing else config.device
        # Before any network is built: the targets check the input further.
        dataset, stratify = data.dataset(
            classes,
            self._extra_targets,
            device,
            config.class_weight,
            float_dtype=self._float_dtype(),
        )
        criterion = self._make_criterion(len(classes), n_subclasses)
        net = make_net(
            config,
            n_features=data.n_features,
            n_outputs=len(classes) * n_subclasses,
            criterion=criterion,
            seed=seed,
        )
        if continuing:
            net = continue_net(self.net_, net, criterion)
        epochs = 1 if incremental else (config.max_epochs if continuing else None)
        self.net_ = run_fit(
            config, net, dataset, seed=seed, stratify=stratify, epochs=epochs
        )
        self.classes_ = classes
        self.n_subclasses_ = n_subclasses
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        return self

    def _check_partial_fit_input(self, X):
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: the "
                "class frequencies of one chunk are not those of the data. Compute "
                "them once with sklearn.utils.class_weight.compute_class_weight"
                "('balanced', classes=classes, y=y) and pass them as a dict."
            )
        if is_stream(X):
            raise TypeError(
                f"{type(self).__name__}.partial_fit takes arrays, one chunk at a "
                f"time; pass {STREAM_NAME} ({type(X).__name__}) to fit instead."
            )

    def _check_known_input(self, data, classes, n_features):
        """The fitted classes, after checking ``data`` against the first fit."""
        if data.n_features != n_features:
            raise ValueError(
                f"X has {data.n_features} features, but {type(self).__name__} is "
                f"expecting {n_features} features as input."
            )
        if classes is not None and not np.array_equal(
            np.unique(classes), self.classes_
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()!r} is not the same as on the "
                f"first call to partial_fit ({self.classes_.tolist()!r})."
            )
        unknown = np.setdiff1d(data.labelled_classes, self.classes_)
        if len(unknown):
            raise ValueError(
                f"y has labels {unknown.tolist()!r} that are not among the classes "
                f"{self.classes_.tolist()!r} of the first fit; a network that goes on "
                "training keeps its classes."
            )
        return self.classes_

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
            config,
            n_features=self.n_features_in_,
            n_outputs=n_classes * self.n_subclasses_,
            criterion=self._make_criterion(n_classes, self.n_subclasses_),
        )
        # Building the network draws initial weights; keep the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            net.initialize()
        module = uncompiled(net.module_)
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
