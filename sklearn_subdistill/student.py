"""SubclassDistilledStudent: a network that learns from a teacher's subclasses."""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import has_fit_parameter

from ._base import SubclassNetworkMixin
from ._params import NETWORK_CONSTRAINTS
from ._selection import auto_temperature, resolve_subclass_weight
from ._streaming import STREAM_NAME
from ._teachers import (
    check_frozen_teacher,
    check_teacher,
    distillation_targets,
    teacher_to_fit,
)
from ._training import interrupts_stop
from ._training_data import ArrayData
from .modules import SubclassDistillationLoss

__all__ = ["SubclassDistilledStudent"]


class SubclassDistilledStudent(SubclassNetworkMixin, ClassifierMixin, BaseEstimator):
    """Neural classifier distilled from a teacher's subclass probabilities.

    The student's network has the teacher's ``n_classes * n_subclasses``
    outputs and is trained on
    ``alpha * distillation_loss + (1 - alpha) * CE(labels, class_logits)``:
    it matches the teacher's softened subclass distribution at temperature
    ``temperature`` (its class probabilities, and with weight
    ``subclass_weight`` its split of each class) while also fitting the
    labels. With a teacher that has no
    subclasses (any scikit-learn classifier with ``predict_proba``), this is
    conventional distillation.

    Rows labelled ``-1`` are unlabelled transfer data (scikit-learn's
    semi-supervised convention): they take the distillation term alone.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    teacher : estimator or None, default=None
        Where the soft targets come from:

        - ``None``: a :class:`SubclassTeacherClassifier` with default settings
          (and this estimator's ``random_state`` and ``device``) is fitted on
          the labelled rows;
        - an unfitted estimator: cloned and fitted on the labelled rows inside
          ``fit`` (kept as ``teacher_``), so ``GridSearchCV`` can tune
          ``teacher__<param>`` together with the student;
        - a fitted estimator wrapped in :class:`sklearn.frozen.FrozenEstimator`:
          used as it is and never refitted;
        - any classifier with ``predict_proba`` (e.g.
          :class:`~sklearn.ensemble.HistGradientBoostingClassifier`): the
          student distils its class log-probabilities.
    temperature : float, default=1.0
        Distillation temperature ``T`` (> 0) of the teacher's probabilities.
        The paper used 4; on the real data of the study, 1 gave the better
        conventional students on tables.
    subclass_weight : float or "auto", default="auto"
        Weight (>= 0) of the teacher's split of each class in the
        distillation term. That term is exactly the cross-entropy of the
        teacher's class probabilities (what conventional distillation
        transfers) plus that of its within-class split;
        ``subclass_weight`` scales the second
        (:func:`~sklearn_subdistill.losses.subclass_distillation_loss`). ``1``
        is the paper's loss; ``0`` distils the class probabilities alone.
        ``"auto"`` scores conventional distillation (``0`` at ``temperature``)
        and the paper's loss (``1`` at temperature 4) with either
        ``class_mass`` by 4-fold cross-validated log-loss (temperature-scaled),
        keeps the better split where it beats the first by 2%, both with the
        teacher and with fold teachers (the teacher refitted on each fold's
        other rows, new to the held-out rows), and refits on all rows. With
        unlabelled rows (``y=-1``), or where no rows can be held out
        (streams, ``partial_fit``, a process group, fewer than two labelled
        rows per class and fold), it distils conventionally:
        on the real data of the study the split gained nothing with transfer
        rows and cost up to 7.1 AUC points on tables (see
        :ref:`when_it_helps`). Ignored for a teacher without subclasses.
    class_mass : {"subclasses", "predict_proba"}, default="subclasses"
        Where the split is distilled: the teacher's subclass distribution as
        it is (its ``transform``), or its ``predict_proba`` split as that
        distribution splits each class. They differ for the default teacher
        (see its ``class_mass``). ``subclass_weight="auto"`` chooses it
        with the weight (``class_mass_``).
    alpha : float, default=0.5
        Weight of the distillation term, in ``[0, 1]``; ``0`` ignores the
        teacher, ``1`` ignores the labels.
    hidden_layer_sizes : tuple of int or int, default=(64,)
        Hidden layer widths of the default :class:`~sklearn_subdistill.modules.MLP`
        (an int means one layer); ignored when ``module`` is given.
    module : torch.nn.Module subclass or None, default=None
        The network class, constructed with ``n_features``, ``n_outputs`` and
        every ``module__<name>`` parameter; see :class:`SubclassTeacherClassifier`.
    max_epochs : int, default=100
        Passes over the training data.
    batch_size : int, default=256
        Rows per minibatch.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer subclass, \
            default="adam"
        The optimizer; its other arguments are ``optimizer__<name>`` parameters.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available and the CPU otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split.
    verbose : int, default=0
        ``1`` prints skorch's table of losses after every epoch; ``2`` also
        shows a progress bar over each epoch's batches.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their loss
        has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        Share of the rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks, copied at every ``fit``.
    precision : {"fp32", "bf16", "fp16", "fp64"}, default="fp32"
        Mixed precision: ``"bf16"`` or ``"fp16"`` run the network under
        ``torch.autocast`` (meant for CUDA; ``"fp16"`` also scales the loss).
        Losses and predicted probabilities are always computed in float32 or
        float64. ``"fp64"`` trains and predicts in float64: float64
        parameters, each batch of (float32-stored) features cast to float64,
        float64 weights and teacher logits. Slower than ``"fp32"`` (much
        slower on most GPUs), with parameters twice the size; meant for
        checks that need results exact beyond float32 rounding (a weighted
        fit then equals the fit on repeated rows to ~1e-15). The teacher
        has its own ``precision`` (``teacher__precision`` in a search).
    compile : bool, default=False
        Compile the network with ``torch.compile`` (through skorch). Compiling
        takes time up front and pays off only for long runs, mostly on GPUs.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the student's loss, as in scikit-learn's
        classifiers (``"balanced"`` counts the labelled rows); unlabelled rows
        take weight 1. Multiplied with ``fit``'s ``sample_weight``. Not passed
        to the teacher, which has its own (``teacher__class_weight``).
        ``"balanced"`` is refused by :meth:`partial_fit`.
    warm_start : bool, default=False
        When fitted, ``fit`` goes on training the same network for
        ``max_epochs`` more epochs, distilling the teacher it already has
        (which is not fitted again).
    **kwargs : dict
        ``module__<name>`` and ``optimizer__<name>`` parameters.

    Attributes
    ----------
    teacher_ : estimator
        The fitted teacher the student learned from.
    classes_ : ndarray of shape (n_classes,)
        The class labels (the teacher's); never contains the unlabelled
        marker ``-1``.
    subclass_weight_ : float
        The weight of the split the network was trained with: the parameter,
        or the one ``"auto"`` chose (``1`` at temperature 4, or ``0``).
    class_mass_ : str
        The ``class_mass`` of the distilled split, or the one ``"auto"`` chose.
    subclass_weight_scores_ : dict
        With ``"auto"``: held-out, temperature-scaled log-loss of each
        candidate's student, by name: ``"conventional"``, or the ``class_mass``
        of a split candidate; with fold teachers (where the first scores kept
        a split), the same names followed by ``" (fold teachers)"``; empty
        when nothing was chosen.
    n_subclasses_ : int
        Subclasses per class: the teacher's ``n_subclasses_``; 1 for a
        teacher without subclasses, or where the split is not distilled
        (``subclass_weight_`` is 0): the network then has one output per
        class and learns the teacher's class probabilities, conventional
        distillation.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.
    net_ : skorch.NeuralNet
        The trained skorch net.
    history_ : skorch.History
        Training record.
    n_iter_ : int
        Epochs run, over all fits that continued the network
        (``warm_start``, :meth:`partial_fit`): ``len(history_)``.

    See Also
    --------
    SubclassTeacherClassifier : The teacher that invents subclasses.

    Notes
    -----
    The teacher's logits are computed once per ``fit``, in batches and
    without gradients. With a :class:`SubclassTeacherClassifier` teacher the
    student's outputs are grouped like the teacher's, so its
    :meth:`transform` and :meth:`predict_subclass` name the same subclasses.

    References
    ----------
    .. [1] R. Müller, S. Kornblith and G. Hinton, "Subclass Distillation",
       arXiv:2002.03936, 2020.
    .. [2] G. Hinton, O. Vinyals and J. Dean, "Distilling the Knowledge in a
       Neural Network", arXiv:1503.02531, 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_subdistill import (SubclassDistilledStudent,
    ...                                 SubclassTeacherClassifier)
    >>> X, digit = load_digits(return_X_y=True)
    >>> X, y = X / 16, (digit >= 5).astype(int)
    >>> teacher = SubclassTeacherClassifier(max_epochs=5, random_state=0)
    >>> student = SubclassDistilledStudent(teacher=teacher, hidden_layer_sizes=(16,),
    ...                                    max_epochs=5, random_state=0).fit(X, y)
    >>> [name for name in student.subclass_weight_scores_  # the candidates tried
    ...  if not name.endswith("(fold teachers)")]
    ['conventional', 'subclasses', 'predict_proba']
    >>> n_outputs = 20 if student.subclass_weight_ else 2  # 2 x 10, or 2 classes
    >>> student.transform(X[:3]).shape == (3, n_outputs)
    True
    >>> paper_loss = SubclassDistilledStudent(
    ...     teacher=teacher, subclass_weight=1.0, hidden_layer_sizes=(16,),
    ...     max_epochs=5, random_state=0).fit(X, y)
    >>> paper_loss.transform(X[:3]).shape  # the teacher's 2 x 10 subclasses
    (3, 20)
    """

    _semi_supervised = True

    _parameter_constraints = {
        **NETWORK_CONSTRAINTS,
        "teacher": [None, HasMethods(["fit", "predict_proba"])],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "subclass_weight": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "class_mass": [StrOptions({"subclasses", "predict_proba"})],
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        *,
        teacher=None,
        temperature=1.0,
        subclass_weight="auto",
        class_mass="subclasses",
        alpha=0.5,
        hidden_layer_sizes=(64,),
        module=None,
        max_epochs=100,
        batch_size=256,
        lr=1e-3,
        optimizer="adam",
        device="auto",
        random_state=None,
        verbose=0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        precision="fp32",
        compile=False,
        class_weight=None,
        warm_start=False,
        **kwargs,
    ):
        self.teacher = teacher
        self.temperature = temperature
        self.subclass_weight = subclass_weight
        self.class_mass = class_mass
        self.alpha = alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.module = module
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.precision = precision
        self.compile = compile
        self.class_weight = class_weight
        self.warm_start = warm_start
        self._store_extra_params(kwargs)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the teacher if needed, then distil it into the student network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Training samples, labelled and unlabelled. For data larger than
            memory, a map-style :class:`torch.utils.data.Dataset` of ``(x, y)``
            samples (or ``x`` alone for unlabelled rows), or a re-iterable of
            ``(X_batch, y_batch)`` (or ``X_batch``) batches, with ``y=None``;
            see :ref:`scaling`.
        y : array-like of shape (n_samples,) or None, default=None
            Class labels, ``-1`` for unlabelled rows. ``None`` (or all ``-1``)
            distils from a fitted teacher (a ``FrozenEstimator``) alone.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative, finite row weights (arrays only; not all 0): the loss
            is the weighted mean of the per-row losses, so a row of integer
            weight ``k`` counts as ``k`` copies and a row of weight 0 as none.
            The labelled rows' weights are passed on to the teacher's ``fit``
            when the student fits it and it accepts ``sample_weight``.

        Returns
        -------
        self : SubclassDistilledStudent
            The fitted student.
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """Distil for one epoch over ``X``, continuing previous calls.

        On the first call the teacher is fitted on this chunk's labelled rows
        (or used as it is, if frozen) and the student takes its classes; later
        calls keep that teacher and go on training the same network (weights
        and optimizer state). Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples of this chunk.
        y : array-like of shape (n_samples,) or None, default=None
            Their labels, ``-1`` for unlabelled rows.
        classes : array-like of shape (n_classes,) or None, default=None
            Not needed: the classes are the teacher's. If given, they must be
            the teacher's.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Row weights, as in :meth:`fit`.

        Returns
        -------
        self : SubclassDistilledStudent
            The student, trained one more epoch.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _make_criterion(self, n_classes, n_subclasses):
        weight, temperature = self._distillation_settings()
        return SubclassDistillationLoss(
            n_classes=n_classes,
            alpha=self.alpha,
            temperature=temperature,
            subclass_weight=weight,
        )

    def _distillation_settings(self):
        """The split's weight and the temperature: the parameters, or the
        candidate ``subclass_weight="auto"`` chose."""
        if self.subclass_weight != "auto" or not self.subclass_weight_:
            return float(self.subclass_weight_), self.temperature
        return self.subclass_weight_, auto_temperature(self.subclass_weight_)

    def _fit_classes(self, data, classes, incremental=False):
        self.teacher_ = self._fitted_teacher(data)
        teacher_classes, n_subclasses = check_teacher(
            self.teacher_, self.n_features_in_, getattr(self, "feature_names_in_", None)
        )
        if classes is not None and not np.array_equal(
            np.unique(classes), np.unique(teacher_classes)
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()!r} are not the teacher's "
                f"classes {teacher_classes.tolist()!r}; the student takes its classes "
                "from the teacher. Fit the teacher on data of every class and pass it "
                "in a FrozenEstimator."
            )
        self.subclass_weight_, self.class_mass_, self.subclass_weight_scores_ = (
            resolve_subclass_weight(
                self, data, teacher_classes, n_subclasses, incremental
            )
        )
        if not self.subclass_weight_:
            # The split is not distilled: conventional distillation, on a
            # network with one output per class.
            return teacher_classes, 1
        return teacher_classes, n_subclasses

    def _extra_targets(self, X):
        weight, class_mass = self.subclass_weight_, self.class_mass_
        dtype = self._float_dtype()
        return (distillation_targets(self.teacher_, X, dtype, weight, class_mass),)

    def _fitted_teacher(self, data):
        """The teacher to distil: the frozen one, or a clone fitted on ``data``."""
        if (teacher := teacher_to_fit(self)) is None:
            return check_frozen_teacher(self.teacher)
        if not isinstance(data, ArrayData) and not isinstance(
            teacher, SubclassNetworkMixin
        ):
            raise TypeError(
                f"The teacher {type(teacher).__name__} cannot be fitted on "
                f"{STREAM_NAME}. Fit it on an array, wrap it in "
                "sklearn.frozen.FrozenEstimator and pass that as the teacher, or use "
                "a SubclassTeacherClassifier teacher."
            )
        if not len(data.labelled_classes):
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None (or has no labelled row): an unfitted teacher needs labels. To "
                "distil from unlabelled data alone, pass a fitted teacher wrapped in "
                "sklearn.frozen.FrozenEstimator."
            )
        if data.n_unlabelled != 0 and len(data.labelled_classes) < 2:
            count = "" if data.n_unlabelled is None else f" {data.n_unlabelled}"
            raise ValueError(
                f"y marks{count} rows as unlabelled (-1) and the other rows hold a "
                "single class, too few to fit the teacher. Rows labelled -1 are "
                "unlabelled transfer data; if -1 is a class of yours, relabel it "
                "(e.g. to 0)."
            )
        fit_params = {}
        if data.labelled_weight is not None:
            if has_fit_parameter(teacher, "sample_weight"):
                fit_params["sample_weight"] = data.labelled_weight
            else:
                warnings.warn(
                    f"The teacher {type(teacher).__name__} takes no sample_weight; "
                    "it is fitted unweighted (the student's loss is weighted).",
                    UserWarning,
                    stacklevel=5,
                )
        with interrupts_stop(type(self).__name__):
            return clone(teacher).fit(*data.labelled_input(), **fit_params)
