"""The estimators' network parameters: routing, checks, one resolved configuration.

Parameters are stored as given (``__init__``, ``set_params``) and checked once
per ``fit`` by :func:`resolve_network_params`, which turns them into a
:class:`NetworkConfig`: everything the net is built from and trained with,
resolved (sizes as a tuple, optimizer and module classes, the device string,
whether training stops early). The layers below the estimator (reading the
data, building and training the net) take that configuration, never the
estimator; nothing after it checks a parameter again.
"""

import copy
import difflib
import inspect
from dataclasses import dataclass
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from skorch.callbacks import Callback

from ._devices import resolve_device
from ._distributed import is_main_process
from .modules import MLP

#: Prefixes of the extra keyword parameters the estimators accept and pass on.
ROUTED_PREFIXES = ("module__", "optimizer__")

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Names of the callbacks the estimators add to every net.
OWN_CALLBACKS = ("finite_loss", "keep_last_epoch", "early_stopping", "progress_bar")


def _ordered(options):
    """A set-like view of ``options`` that iterates in their order.

    ``StrOptions`` lists its options in error messages in iteration order; a
    plain set of strings would list them in a different order in every
    process (string hashing is randomised).
    """
    return dict.fromkeys(options).keys()


NETWORK_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "module": [None, type],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "optimizer": [StrOptions(_ordered(OPTIMIZERS)), type],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "callbacks": [None, list],
    "precision": [StrOptions(_ordered(["fp32", "bf16", "fp16", "fp64"]))],
    "compile": ["boolean"],
    "warm_start": ["boolean"],
    "class_weight": [None, dict, StrOptions({"balanced"})],
}


@dataclass(frozen=True)
class NetworkConfig:
    """The network and training parameters of one fit, checked and resolved.

    Attributes
    ----------
    name : str
        The estimator's class name, for messages.
    module : type
        The ``torch.nn.Module`` class.
    module_params : dict
        Its keyword arguments other than ``n_features`` and ``n_outputs``.
    optimizer : type
        The ``torch.optim.Optimizer`` class.
    optimizer_params : dict
        Its keyword arguments other than ``params`` and ``lr``.
    callbacks : list
        The user's callbacks, copied.
    device : str
        The torch device to train on.
    lr, max_epochs, batch_size, validation_fraction, n_iter_no_change, tol, \
    precision, compile, class_weight
        The estimator's parameters of these names.
    early_stopping : bool
        Whether training stops early (on a validation split): the parameter,
        except in ``partial_fit``, which never does.
    verbose : int
        The ``verbose`` parameter; 0 outside rank 0 of a process group.
    """

    name: str
    module: type
    module_params: dict
    optimizer: type
    optimizer_params: dict
    callbacks: list
    device: str
    lr: float
    max_epochs: int
    batch_size: int
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    tol: float
    precision: str
    compile: bool
    class_weight: object
    verbose: int


def resolve_network_params(estimator, device=None, incremental=False):
    """Check ``estimator``'s network parameters; return a :class:`NetworkConfig`.

    The checks ``_parameter_constraints`` cannot express (``fit``'s
    ``_fit_context`` runs those), before any network is built, so a bad
    parameter fails fast. ``device`` overrides the estimator's own (a model
    loaded elsewhere); ``incremental``: the configuration of a
    ``partial_fit``, one epoch that never stops early.
    """
    name = type(estimator).__name__
    _refuse_bools(estimator, name)
    extra = estimator._extra_params()
    unknown = sorted(k for k in extra if not k.startswith(ROUTED_PREFIXES))
    if unknown:
        raise TypeError(
            f"{name} got unknown parameter(s) {unknown}; extra "
            f"parameters must start with {' or '.join(ROUTED_PREFIXES)}."
        )
    module = _check_module(estimator.module)
    reserved = {
        "n_features": "the number of columns of X",
        "n_outputs": "n_classes * n_subclasses",
    }
    module_params = {}
    if estimator.module is None:
        reserved["hidden_layer_sizes"] = "the hidden_layer_sizes parameter"
        module_params["hidden_layer_sizes"] = _hidden_layer_sizes(estimator)
    routed = _routed(extra, "module__")
    _check_routed(name, "module__", routed, module, reserved)
    module_params.update(routed)
    optimizer = estimator.optimizer
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS[optimizer]
    elif not issubclass(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be one of 'adam', 'adamw', 'sgd' or a "
            f"torch.optim.Optimizer subclass, got {estimator.optimizer!r}."
        )
    optimizer_params = _routed(extra, "optimizer__")
    _check_routed(
        name,
        "optimizer__",
        optimizer_params,
        optimizer,
        {"params": "the network's parameters", "lr": "the lr parameter"},
    )
    _check_callbacks(name, estimator.callbacks)
    return NetworkConfig(
        name=name,
        module=module,
        module_params=module_params,
        optimizer=optimizer,
        optimizer_params=optimizer_params,
        callbacks=copy.deepcopy(estimator.callbacks) if estimator.callbacks else [],
        device=resolve_device(estimator.device if device is None else device),
        lr=estimator.lr,
        max_epochs=estimator.max_epochs,
        batch_size=estimator.batch_size,
        early_stopping=bool(estimator.early_stopping) and not incremental,
        validation_fraction=estimator.validation_fraction,
        n_iter_no_change=estimator.n_iter_no_change,
        tol=estimator.tol,
        precision=estimator.precision,
        compile=estimator.compile,
        class_weight=estimator.class_weight,
        # Within a process group, only rank 0 prints.
        verbose=estimator.verbose if is_main_process() else 0,
    )


def _refuse_bools(estimator, name):
    # bool is an int to Python and to Interval; never a size or a rate.
    for key, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, key)
        if isinstance(value, bool) and any(
            isinstance(c, Interval) for c in constraints
        ):
            raise InvalidParameterError(
                f"The {key!r} parameter of {name} must be a number, not a bool. "
                f"Got {value!r} instead."
            )


def _hidden_layer_sizes(estimator):
    sizes = estimator.hidden_layer_sizes
    if isinstance(sizes, Integral):
        sizes = (sizes,)
    sizes = tuple(sizes)
    if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
        raise ValueError(
            "hidden_layer_sizes must be a sequence of positive ints, got "
            f"{estimator.hidden_layer_sizes!r}."
        )
    return sizes


def _check_module(module):
    if module is None:
        return MLP
    if not issubclass(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module subclass, got {module!r}.")
    missing = {"n_features", "n_outputs"} - set(_keyword_names(module))
    if missing and not _takes_any_keyword(module):
        raise TypeError(
            f"module {module.__name__} must accept the keyword arguments "
            f"n_features and n_outputs; missing {sorted(missing)}."
        )
    return module


def _check_callbacks(name, callbacks):
    for item in callbacks or []:
        callback = item
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            if item[0] in OWN_CALLBACKS:
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


def _routed(extra, prefix):
    return {
        key[len(prefix) :]: value
        for key, value in extra.items()
        if key.startswith(prefix)
    }


def _check_routed(name, prefix, params, target, reserved):
    """Check ``<prefix><name>`` parameters against ``target``'s constructor."""
    clash = sorted(set(params) & set(reserved))
    if clash:
        raise ValueError(
            f"{prefix}{clash[0]} cannot be set: {name} passes "
            f"{clash[0]} itself ({reserved[clash[0]]})."
        )
    if _takes_any_keyword(target):
        return
    accepted = _keyword_names(target)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        valid = [f"{prefix}{k}" for k in accepted if k not in reserved]
        raise TypeError(
            f"{name} got {', '.join(prefix + k for k in unknown)}, "
            f"but {target.__name__} accepts no such argument; valid "
            f"{prefix}<name> parameters are {valid}."
        )


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


class RoutedParamsMixin:
    """``get_params``/``set_params`` that also carry ``module__*``/``optimizer__*``.

    The parameters are the constructor's arguments and the routed
    ``module__<name>``/``optimizer__<name>`` ones, nothing else: another
    public attribute set on an estimator is not a parameter. An unknown name
    passed to ``__init__`` is kept (as scikit-learn asks, ``__init__`` only
    stores) for ``fit`` to refuse; ``set_params`` refuses one at once.
    """

    def _store_extra_params(self, extra):
        # Validated in fit, as scikit-learn asks: __init__ only stores what
        # it is given.
        unknown = {}
        for key, value in extra.items():
            if key.startswith(ROUTED_PREFIXES):
                setattr(self, key, value)
            else:
                unknown[key] = value
        if unknown:
            self._unknown_params = {
                **self.__dict__.get("_unknown_params", {}),
                **unknown,
            }

    def _extra_params(self):
        """The ``**kwargs`` parameters: routed ones, unknown ones from ``__init__``."""
        routed = {
            key: value
            for key, value in vars(self).items()
            if key.startswith(ROUTED_PREFIXES)
        }
        return {**routed, **self.__dict__.get("_unknown_params", {})}

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

        Raises
        ------
        ValueError
            For a name that is none of these (before anything is set), with
            the closest valid name.
        """
        declared = set(self._get_param_names())
        # set_params(**get_params()) works, even with unknown names from __init__.
        kept = self.__dict__.get("_unknown_params", {})
        nested, extra = {}, {}
        for key, value in params.items():
            if key.startswith(ROUTED_PREFIXES) or key in kept:
                extra[key] = value
            elif key.split("__", 1)[0] in declared:
                nested[key] = value
            else:
                raise ValueError(self._unknown_param_message(key, declared))
        self._store_extra_params(extra)
        if nested:
            super().set_params(**nested)
        return self

    def _unknown_param_message(self, key, declared):
        routed = (
            key for key in self._extra_params() if key.startswith(ROUTED_PREFIXES)
        )
        valid = sorted(declared.union(routed))
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"Invalid parameter {key!r} for estimator {type(self).__name__}.{hint} "
            f"Valid parameters are {valid}, and any "
            f"{' or '.join(p + '<name>' for p in ROUTED_PREFIXES)}."
        )
