"""SubclassTeacherClassifier: a network that invents subclasses while it learns."""

import dataclasses
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import SubclassNetworkMixin, check_two_classes
from ._params import NETWORK_CONSTRAINTS
from .modules import SubclassHeadNetwork, SubclassTeacherLoss

__all__ = ["SubclassTeacherClassifier"]


class SubclassTeacherClassifier(SubclassNetworkMixin, ClassifierMixin, BaseEstimator):
    """Neural classifier whose output splits every class into subclasses.

    The model has ``n_classes * n_subclasses`` outputs: the probability of
    each class, trained with cross-entropy on the labels, split among that
    class's subclasses. By default the class probabilities come from a
    network trained exactly as one without subclasses would be, and the split
    from a second network of the same architecture, trained as the paper's
    network [1]_ is: cross-entropy of its per-class log-sum-exps plus an
    auxiliary loss, weighted by ``aux_weight``, that pushes the rows of a
    batch into different subclasses. The subclasses it invents are what
    :class:`SubclassDistilledStudent` learns from. The paper's single network
    is ``subclass_head="shared"``.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_subclasses : int, default=10
        Subclasses per class. It need not be the number of groups hidden in a
        class: more subclasses than groups split each group further. Set it
        to the number of groups when the subclasses themselves are wanted
        (for ``transform`` or
        :func:`~sklearn_subdistill.metrics.subclass_recovery_score`). ``1``
        with ``aux_weight=0`` is an ordinary classifier (with one subclass
        there is one network, whatever ``subclass_head``, and the contrastive
        loss would act on its class logits).
    hidden_layer_sizes : tuple of int or int, default=(256, 256)
        Hidden layer widths of the default :class:`~sklearn_subdistill.modules.MLP`
        (an int means one layer); ignored when ``module`` is given.
    module : torch.nn.Module subclass or None, default=None
        The network class. It is constructed with the keyword arguments
        ``n_features`` and ``n_outputs`` plus every ``module__<name>``
        parameter set on this estimator, and maps a float32 batch of shape
        ``(n, n_features)`` to logits of shape ``(n, n_outputs)``. ``None``
        means :class:`~sklearn_subdistill.modules.MLP`.
    aux_weight : float, default=1.0
        Weight ``beta`` of the auxiliary loss; ``0`` turns it off (and lets the
        subclasses collapse).
    aux_loss : {"contrastive", "information"}, default="contrastive"
        The auxiliary loss.

        - ``"contrastive"``: the paper's loss, which pushes the rows of a batch
          apart in subclass space, with ``aux_temperature`` and ``aux_scope``:
          :func:`~sklearn_subdistill.losses.subclass_auxiliary_loss`. On
          Fashion-MNIST its subclasses recovered the hidden classes better,
          and gave better students, than the information loss (see
          :ref:`when_it_helps`).
        - ``"information"``: within each class, the entropy of the class's
          mean subclass distribution (subclasses used equally often) against
          ``aux_entropy_weight`` times the rows' mean entropy (each row in one
          subclass): :func:`~sklearn_subdistill.losses.subclass_information_loss`.
    aux_entropy_weight : float, default=0.3
        Weight of the rows' mean entropy in ``aux_loss="information"``
        (``1``: the mutual information of rows and subclasses); lower values
        leave softer splits. Only used when ``aux_loss="information"``.
    aux_temperature : float, default=1.0
        Temperature of the contrastive loss; lower values push harder. Only
        used when ``aux_loss="contrastive"``.
    aux_scope : {"all", "within"}, default="all"
        Rows and logits the contrastive loss contrasts: ``"all"``, the paper's,
        every row of a batch over all ``n_classes * n_subclasses`` logits;
        ``"within"``, only rows of the same class over that class's own
        subclass logits (softer subclasses). Only used when
        ``aux_loss="contrastive"``.
    subclass_head : {"separate", "detached", "shared"}, default="separate"
        Where the subclasses come from.

        - ``"separate"``: the network predicts the classes alone, so its
          class probabilities (and :meth:`predict`) are those of the same
          network trained without subclasses; a second network of the same
          architecture reads the input and splits each class into subclasses
          (cross-entropy of its per-class log-sum-exps plus the auxiliary
          loss): the ``"shared"`` network below, from the same random state
          and batches, so the same weights under the same ``random_state``.
          Training costs about twice a plain network's.
        - ``"detached"``: the same, but the split comes from a small head on
          the class network's last hidden layer, whose gradient stops there
          (cheaper; it sees only what the network learnt for the classes, and
          found the hidden groups less well). It needs a network whose output
          layer is a ``torch.nn.Linear``.
        - ``"shared"``: the paper's network, one output layer of
          ``n_classes * n_subclasses`` logits whose per-class sums are the
          class probabilities; the auxiliary loss then shapes the whole
          network, which can cost class accuracy.

        With ``n_subclasses=1`` all three are the plain network.
    subclass_temperature : float, default=1.0
        With a ``"separate"`` or ``"detached"`` subclass head, the subclass
        distribution exposed by :meth:`transform` (and distilled by students)
        is the subclass network's softmax at this temperature; above 1 it is
        softer. Training is not affected.
    class_mass : {"subclass_network", "class_network"}, \
            default="subclass_network"
        With a ``"separate"`` or ``"detached"`` subclass head, what
        :meth:`transform` (and so a student) gets; :meth:`predict_proba` is
        the class network's either way.

        - ``"subclass_network"``: the subclass network's own distribution over
          all ``n_classes * n_subclasses`` subclasses, the paper's network
          trained beside the class network. Its class blocks sum to the
          subclass network's class probabilities, close to but not equal to
          :meth:`predict_proba`. Its students were better on Fashion-MNIST
          and digits (see :ref:`when_it_helps`).
        - ``"class_network"``: :meth:`predict_proba` split within each class
          by the subclass network; its class blocks sum to
          :meth:`predict_proba`.
    max_epochs : int, default=100
        Passes over the training data.
    batch_size : int, default=256
        Rows per minibatch. The auxiliary loss is computed over the rows of a
        batch (the contrastive one contrasts them), so it depends on this
        value.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer subclass, \
            default="adam"
        The optimizer; its other arguments are set as ``optimizer__<name>``
        parameters (e.g. ``optimizer__weight_decay=1e-4``).
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available and the CPU otherwise; or any torch
        device such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split. An
        int makes training on the CPU reproducible bit for bit.
    verbose : int, default=0
        ``1`` prints skorch's table of losses after every epoch; ``2`` also
        shows a progress bar over each epoch's batches (skorch's
        ``ProgressBar``, tqdm).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows (stratified) and
        stop when their loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs, keeping the best weights; two networks stop each on its own
        loss (``valid_loss``, ``valid_subclass_loss``; :ref:`hyperparameters`).
    validation_fraction : float, default=0.1
        Share of the training rows held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (copied at every ``fit``), e.g. an
        ``skorch.callbacks.LRScheduler``.
    precision : {"fp32", "bf16", "fp16", "fp64"}, default="fp32"
        Mixed precision: ``"bf16"`` or ``"fp16"`` run the network under
        ``torch.autocast`` (meant for CUDA; ``"fp16"`` also scales the loss).
        Losses and predicted probabilities are always computed in float32 or
        float64. ``"fp64"`` trains and predicts in float64: float64
        parameters, each batch of (float32-stored) features cast to float64,
        float64 weights and teacher logits. Slower than ``"fp32"`` (much
        slower on most GPUs), with parameters twice the size; meant for
        checks that need results exact beyond float32 rounding (a weighted
        fit then equals the fit on repeated rows to ~1e-15).
    compile : bool, default=False
        Compile the network with ``torch.compile`` (through skorch). Compiling
        takes time up front and pays off only for long runs, mostly on GPUs.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers:
        ``{label: weight}``, or ``"balanced"`` for
        ``n_samples / (n_classes * np.bincount(y))``; multiplied with
        ``fit``'s ``sample_weight``. ``"balanced"`` is refused by
        :meth:`partial_fit` (pass a dict computed on all the data).
    warm_start : bool, default=False
        When fitted, ``fit`` goes on training the same network (and optimizer
        state) for ``max_epochs`` more epochs instead of starting anew;
        ``n_iter_`` and ``history_`` count all epochs. The network and the
        optimizer must be unchanged; ``lr`` and ``optimizer__*`` may change.
    **kwargs : dict
        ``module__<name>`` and ``optimizer__<name>`` parameters, passed to the
        network's and the optimizer's constructors; visible to ``get_params``
        and tunable by ``GridSearchCV``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_subclasses_ : int
        Subclasses per class of the fitted network.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module.
    history_ : skorch.History
        Per-epoch and per-batch training record (``history_[:, "train_loss"]``).
    n_iter_ : int
        Epochs run, over all fits that continued the network
        (``warm_start``, :meth:`partial_fit`): ``len(history_)``.

    See Also
    --------
    SubclassDistilledStudent : Distils this teacher into a smaller network.
    sklearn.neural_network.MLPClassifier : scikit-learn's own neural classifier.

    Notes
    -----
    With ``subclass_head="shared"`` the loss on a batch of subclass logits
    ``z`` with class labels ``y`` is ``CE(y, class_logits(z)) + aux_weight *
    L_aux(z)`` where ``class_logits`` is a log-sum-exp over each class's block
    of subclass logits and ``L_aux`` is the auxiliary loss
    (:func:`~sklearn_subdistill.losses.subclass_information_loss`,
    :func:`~sklearn_subdistill.losses.subclass_auxiliary_loss` or
    :func:`~sklearn_subdistill.losses.within_class_auxiliary_loss`). With
    ``subclass_head="separate"`` (or ``"detached"``), class logits ``a`` and
    subclass logits ``b`` (from a second network, or from the network's last
    hidden layer, its gradient stopped), it is
    ``CE(y, a) + CE(y, class_logits(b)) + aux_weight * L_aux(b)``;
    :meth:`predict_proba` is ``softmax(a)`` and :meth:`transform` is
    ``softmax(b / subclass_temperature)`` (``class_mass="subclass_network"``)
    or ``softmax(a)[c] * softmax(b_c / subclass_temperature)[j]`` for
    subclass ``j`` of class ``c`` (``"class_network"``; see
    :class:`~sklearn_subdistill.modules.SubclassHeadNetwork`).

    The information loss follows discriminative clustering by regularised
    information maximisation [2]_, applied within each class.

    References
    ----------
    .. [1] R. Müller, S. Kornblith and G. Hinton, "Subclass Distillation",
       arXiv:2002.03936, 2020.
    .. [2] A. Krause, P. Perona and R. Gomes, "Discriminative Clustering by
       Regularized Information Maximization", NeurIPS, 2010.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_subdistill import SubclassTeacherClassifier
    >>> X, digit = load_digits(return_X_y=True)
    >>> y = (digit >= 5).astype(int)  # two classes: 0-4 and 5-9
    >>> teacher = SubclassTeacherClassifier(n_subclasses=5, max_epochs=5,
    ...                                     random_state=0).fit(X / 16, y)
    >>> teacher.predict_proba(X[:2] / 16).shape
    (2, 2)
    >>> teacher.transform(X[:2] / 16).shape
    (2, 10)
    >>> teacher.get_feature_names_out()[:3]
    array(['subclass_0_0', 'subclass_0_1', 'subclass_0_2'], dtype=object)
    """

    _parameter_constraints = {
        **NETWORK_CONSTRAINTS,
        "n_subclasses": [Interval(Integral, 1, None, closed="left")],
        "aux_weight": [Interval(Real, 0, None, closed="left")],
        "aux_temperature": [Interval(Real, 0, None, closed="neither")],
        "aux_scope": [StrOptions({"all", "within"})],
        "aux_loss": [StrOptions({"information", "contrastive"})],
        "aux_entropy_weight": [Interval(Real, 0, None, closed="left")],
        "subclass_head": [StrOptions({"separate", "detached", "shared"})],
        "subclass_temperature": [Interval(Real, 0, None, closed="neither")],
        "class_mass": [StrOptions({"subclass_network", "class_network"})],
    }

    def __init__(
        self,
        *,
        n_subclasses=10,
        hidden_layer_sizes=(256, 256),
        module=None,
        aux_weight=1.0,
        aux_temperature=1.0,
        aux_scope="all",
        aux_loss="contrastive",
        aux_entropy_weight=0.3,
        subclass_head="separate",
        subclass_temperature=1.0,
        class_mass="subclass_network",
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
        self.n_subclasses = n_subclasses
        self.hidden_layer_sizes = hidden_layer_sizes
        self.module = module
        self.aux_weight = aux_weight
        self.aux_temperature = aux_temperature
        self.aux_scope = aux_scope
        self.aux_loss = aux_loss
        self.aux_entropy_weight = aux_entropy_weight
        self.subclass_head = subclass_head
        self.subclass_temperature = subclass_temperature
        self.class_mass = class_mass
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the network on labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Training samples (numeric, finite, dense). For data larger than
            memory, a map-style :class:`torch.utils.data.Dataset` of ``(x, y)``
            samples, or a re-iterable of ``(X_batch, y_batch)`` batches (such
            as a :class:`~torch.utils.data.DataLoader`), with ``y=None``; see
            :ref:`scaling`.
        y : array-like of shape (n_samples,)
            Class labels: ints, strings, anything
            :func:`~sklearn.utils.multiclass.check_classification_targets`
            accepts. None when ``X`` carries the labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative, finite row weights (arrays only; not all 0). A row of
            integer weight ``k`` counts as ``k`` copies of it in every term of
            the loss, the auxiliary loss included (see
            :class:`~sklearn_subdistill.modules.SubclassTeacherLoss`); rows of
            weight 0 are left out. None weighs every row 1.

        Returns
        -------
        self : SubclassTeacherClassifier
            The fitted teacher.
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train the network for one epoch over ``X``, continuing previous calls.

        The first call builds the network for ``classes``; later calls go on
        training it (weights and optimizer state) on the rows given, so that a
        data set can be trained on chunk by chunk, e.g. by
        ``dask_ml.wrappers.Incremental``. Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples of this chunk.
        y : array-like of shape (n_samples,)
            Their class labels, among ``classes``.
        classes : array-like of shape (n_classes,) or None, default=None
            All the classes of the data; required on the first call, as the
            first chunk need not hold them all. Later calls may omit it.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Row weights, as in :meth:`fit`.

        Returns
        -------
        self : SubclassTeacherClassifier
            The teacher, trained one more epoch.
        """
        if classes is None and not hasattr(self, "net_"):
            raise ValueError(
                "classes must be passed on the first call to partial_fit: "
                "classes=np.unique(y_all) for the labels of all the data."
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _fit_classes(self, data, classes, incremental=False):
        if classes is None:
            classes = data.labelled_classes
        else:
            classes = np.unique(classes)
            unknown = np.setdiff1d(data.labelled_classes, classes)
            if len(unknown):
                raise ValueError(
                    f"y has labels {unknown.tolist()!r} that are not in classes="
                    f"{classes.tolist()!r}."
                )
        check_two_classes(self, classes)
        return classes, self.n_subclasses

    def _two_heads(self, n_subclasses):
        return self.subclass_head != "shared" and n_subclasses > 1

    def _make_criterion(self, n_classes, n_subclasses):
        return SubclassTeacherLoss(
            n_classes=n_classes,
            aux_weight=self.aux_weight,
            aux_temperature=self.aux_temperature,
            aux_scope=self.aux_scope,
            aux_loss=self.aux_loss,
            aux_entropy_weight=self.aux_entropy_weight,
            two_heads=self._two_heads(n_subclasses),
            n_subclasses=n_subclasses,
        )

    def _check_continuable(self):
        if self.n_subclasses != self.n_subclasses_:
            raise ValueError(
                "warm_start=True and partial_fit continue the fitted network, which "
                f"has n_subclasses_={self.n_subclasses_}, but n_subclasses is now "
                f"{self.n_subclasses}. Set warm_start=False and call fit to train a "
                "new network."
            )

    def _network_config(self, config, n_classes, n_subclasses):
        if not self._two_heads(n_subclasses):
            return config
        return dataclasses.replace(
            config,
            module=SubclassHeadNetwork,
            module_params={
                "n_classes": n_classes,
                "body": config.module,
                "body_params": config.module_params,
                "subclass_input": "input"
                if self.subclass_head == "separate"
                else "hidden",
                "subclass_temperature": self.subclass_temperature,
                "class_mass": self.class_mass,
            },
        )
