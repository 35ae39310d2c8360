"""Torch networks and training criteria used by the estimators.

The criteria wrap the functions of :mod:`sklearn_subdistill.losses` as
``torch.nn.Module`` objects with the ``forward(logits, target)`` signature that
skorch expects of a criterion.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .losses import (
    class_logits,
    subclass_auxiliary_loss,
    subclass_distillation_loss,
    subclass_information_loss,
    within_class_auxiliary_loss,
)

__all__ = [
    "MLP",
    "SubclassDistillationLoss",
    "SubclassHeadNetwork",
    "SubclassTeacherLoss",
]


class MLP(nn.Module):
    """A plain multi-layer perceptron: ``Linear`` + ``ReLU`` (+ dropout) per layer.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_outputs : int
        Number of output logits.
    hidden_layer_sizes : tuple of int, default=(256, 256)
        Width of each hidden layer; ``()`` gives a linear model.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.modules import MLP
    >>> net = MLP(n_features=4, n_outputs=6, hidden_layer_sizes=(8,))
    >>> net(torch.zeros(3, 4)).shape
    torch.Size([3, 6])
    """

    def __init__(
        self, n_features, n_outputs, hidden_layer_sizes=(256, 256), dropout=0.0
    ):
        super().__init__()
        layers = []
        width = n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        """Logits of shape ``(n_samples, n_outputs)``."""
        return self.layers(X)


class SubclassHeadNetwork(nn.Module):
    """A class network beside a subclass network that splits its classes.

    ``body`` maps a batch to ``C`` class logits ``a``; the subclass network
    maps the batch to ``K = C * s`` logits ``b``. In evaluation mode the
    output is ``(N, C + K)`` float64 log-probabilities: the class network's
    ``log_softmax(a)`` (what the estimator predicts), then the subclass
    distribution it exposes, chosen by ``class_mass``:

    - ``"subclass_network"``: the subclass network's own distribution,
      ``log_softmax(b / tau)`` over all ``K`` logits (the paper's network,
      trained beside the class network);
    - ``"class_network"``: the class network's probabilities split by the
      subclass network, ``log_softmax(a)[c] + log_softmax(b_c / tau)[j]``
      for subclass ``j`` of class ``c``, with ``b_c`` the block of ``b`` of
      class ``c``;

    ``tau`` is the ``subclass_temperature``. In training mode the output is
    ``cat([a, b])``, for :class:`SubclassTeacherLoss` with ``two_heads=True``.
    Nothing of the subclass network's loss reaches the body, which learns
    exactly as a network without subclasses would.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_outputs : int
        Number of subclass logits ``K``.
    n_classes : int
        Number of classes ``C``.
    body : type
        The class network's ``nn.Module`` class, built with ``n_features``,
        ``n_outputs=n_classes`` and ``body_params``.
    body_params : dict or None, default=None
        Further keyword arguments of ``body``.
    subclass_input : {"input", "hidden"}, default="input"
        ``"input"``: the subclass network is a second ``body`` (built with
        ``n_outputs=K``, from the random state the body was built from, so
        it starts as the paper's network would) reading the input. ``"hidden"``: it is a
        ``Linear-ReLU-Linear`` head reading the input of the body's last
        ``nn.Linear``, its gradient stopped there (cheaper; sees only what the
        body learnt for the classes).
    subclass_temperature : float, default=1.0
        ``tau`` above: values above 1 soften the distribution exposed.
    subclass_hidden : int, default=256
        Width of the hidden layer of the ``"hidden"`` head.
    class_mass : {"subclass_network", "class_network"}, default="subclass_network"
        Which network's class probabilities the exposed subclass distribution
        sums to, see above.
    """

    def __init__(
        self,
        n_features,
        n_outputs,
        n_classes,
        body,
        body_params=None,
        subclass_input="input",
        subclass_temperature=1.0,
        subclass_hidden=256,
        class_mass="subclass_network",
    ):
        super().__init__()
        body_params = body_params or {}
        # The generator's state before the body draws its initial weights.
        rng_state = torch.random.get_rng_state()
        self.body = body(n_features=n_features, n_outputs=n_classes, **body_params)
        self.n_classes = n_classes
        self.n_outputs = n_outputs
        self.subclass_input = subclass_input
        self.subclass_temperature = subclass_temperature
        self.class_mass = class_mass
        self._hidden = []  # the input of the body's last linear layer
        if subclass_input == "input":
            # Drawn from that same state, the subclass network starts where the
            # paper's network (``body`` with ``K`` outputs) starts under the
            # same seed, and trains as it does (same batches, its own loss and
            # optimizer state), while the generator goes on from the body's
            # draws alone, as a network without subclasses would.
            with torch.random.fork_rng(devices=[]):
                torch.random.set_rng_state(rng_state)
                self.subclass_net = body(
                    n_features=n_features, n_outputs=n_outputs, **body_params
                )
            return
        linears = [m for m in self.body.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise TypeError(
                f"{body.__name__} has no torch.nn.Linear layer, so a subclass head "
                "cannot read its last hidden layer; use subclass_head='separate'."
            )
        self.subclass_net = nn.Sequential(
            nn.Linear(linears[-1].in_features, subclass_hidden),
            nn.ReLU(),
            nn.Linear(subclass_hidden, n_outputs),
        )
        linears[-1].register_forward_hook(self._keep_hidden)

    def _keep_hidden(self, layer, inputs, output):
        self._hidden.append(inputs[0])

    def class_and_subclass_logits(self, X, dtype=None):
        """Class logits ``a`` ``(N, C)`` and subclass logits ``b`` ``(N, K)``.

        ``dtype``: run the subclass network with its parameters (and input)
        cast to it; None runs it as it is.
        """
        try:
            a = self.body(X)
            # The hook kept the input of the body's last linear layer.
            inputs = X if self.subclass_input == "input" else self._hidden[-1].detach()
        finally:
            self._hidden.clear()
        if dtype is None:
            return a, self.subclass_net(inputs)
        parameters = {
            name: value.to(dtype)
            for name, value in self.subclass_net.state_dict().items()
        }
        b = torch.func.functional_call(self.subclass_net, parameters, inputs.to(dtype))
        return a, b

    def forward(self, X):
        """``(N, C + K)``: logits ``cat([a, b])`` in training, else float64
        class and exposed subclass log-probabilities."""
        if self.training:
            return torch.cat(self.class_and_subclass_logits(X), dim=1)
        # Predictions run the subclass network and combine the two in float64:
        # float32 rounding that depends on the batch's shape (matrix-vector
        # against matrix-matrix kernels) then stays that of the body alone.
        a, b = self.class_and_subclass_logits(X, dtype=torch.float64)
        return torch.cat(self.log_probas(a.double(), b), dim=1)

    def log_probas(self, class_logits_, b):
        """Class log-probabilities ``(N, C)`` and the exposed subclass
        log-probabilities ``(N, K)``, from class logits ``a`` and subclass
        logits ``b``."""
        log_class = F.log_softmax(class_logits_, dim=1)
        if self.class_mass == "subclass_network":
            return log_class, F.log_softmax(b / self.subclass_temperature, dim=1)
        s = self.n_outputs // self.n_classes
        # (N, K) -> (N, C, s): each class's block of subclass logits
        blocks = b.reshape(-1, self.n_classes, s) / self.subclass_temperature
        within = F.log_softmax(blocks, dim=2)
        # (N, C, 1) + (N, C, s) -> (N, C, s) -> (N, K)
        log_proba = log_class.unsqueeze(2) + within
        return log_class, log_proba.reshape(-1, self.n_outputs)

    # Both renormalise in float64: under mixed precision the net casts the
    # output to float32, and a float64 log-softmax of log-probabilities
    # gives them back summing to one.
    def class_log_proba(self, output):
        """The class log-probabilities of an evaluation-mode output."""
        class_part = output[:, : self.n_classes].double()
        return F.log_softmax(class_part, dim=1).clamp(max=0.0)

    def subclass_log_proba(self, output):
        """The exposed subclass log-probabilities of an evaluation-mode output."""
        subclass_part = output[:, self.n_classes :].double()
        return F.log_softmax(subclass_part, dim=1).clamp(max=0.0)


class SubclassTeacherLoss(nn.Module):
    """The teacher's loss: class cross-entropy plus ``aux_weight`` * auxiliary loss.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``.
    aux_weight : float, default=1.0
        Weight ``beta`` of the auxiliary loss.
    aux_temperature : float, default=1.0
        Temperature of the auxiliary loss.
    aux_scope : {"all", "within"}, default="all"
        For ``aux_loss="contrastive"``: ``"all"``:
        :func:`~sklearn_subdistill.losses.subclass_auxiliary_loss` over every
        row and logit of the batch (the paper's); ``"within"``:
        :func:`~sklearn_subdistill.losses.within_class_auxiliary_loss`.
    two_heads : bool, default=False
        The logits come from a :class:`SubclassHeadNetwork` in training mode:
        ``(N, C + K)``, its class logits ``a`` then its subclass head's logits
        ``b``. The loss is then
        ``CE(y, a) + CE(y, class_logits(b)) + aux_weight * L_aux(b)``. In
        evaluation mode (``self.training`` False, set with the network's by
        skorch: e.g. the validation loss of early stopping) the first ``C``
        columns are the class log-probabilities and the loss is their
        cross-entropy.
    n_subclasses : int, default=1
        Subclasses per class ``s``: a two-head network gives ``C + C * s``
        columns. Logits of any other width fail an assertion (with one head:
        a width that is not a multiple of ``C``).
    aux_loss : {"contrastive", "information"}, default="contrastive"
        ``"contrastive"``: the paper's loss (with ``aux_scope`` and
        ``aux_temperature``); ``"information"``:
        :func:`~sklearn_subdistill.losses.subclass_information_loss`.
    aux_entropy_weight : float, default=0.3
        ``entropy_weight`` of ``aux_loss="information"``.

    Notes
    -----
    The target is the class indices ``y``, or ``(y, sample_weight)``. With
    weights, the cross-entropies are weighted means,
    ``sum_n w_n CE_n / sum_n w_n``, and the auxiliary loss is the weighted
    one of :func:`~sklearn_subdistill.losses.subclass_auxiliary_loss` (or
    :func:`~sklearn_subdistill.losses.within_class_auxiliary_loss`, or
    :func:`~sklearn_subdistill.losses.subclass_information_loss`): a row
    of weight ``w`` counts as ``w`` copies of itself, as an anchor and as a
    negative, and a row of weight 0 is left out of every term, as if it were
    not in the batch. A batch whose weights are all 0 has loss 0.
    """

    def __init__(
        self,
        n_classes,
        aux_weight=1.0,
        aux_temperature=1.0,
        aux_scope="all",
        two_heads=False,
        n_subclasses=1,
        aux_loss="contrastive",
        aux_entropy_weight=0.3,
    ):
        super().__init__()
        self.aux_loss = aux_loss
        self.aux_entropy_weight = aux_entropy_weight
        self.n_subclasses = n_subclasses
        self.n_classes = n_classes
        self.aux_weight = aux_weight
        self.aux_temperature = aux_temperature
        self.aux_scope = aux_scope
        self.two_heads = two_heads

    def forward(self, logits, y):
        """Loss of a batch; ``y`` holds class indices in ``[0, C)``, or is
        ``(y, sample_weight)``."""
        weight = None
        if isinstance(y, (tuple, list)):
            y, weight = y
        n_classes = self.n_classes
        self._check_width(logits.shape[1])
        if self.two_heads and not self.training:
            # evaluation-mode output (validation): the class cross-entropy of
            # the class log-probabilities
            return _cross_entropy(logits[:, :n_classes], y, weight)
        if self.two_heads:
            # (N, C + K) -> class logits a (N, C) and subclass logits b (N, K)
            a, b = logits[:, :n_classes], logits[:, n_classes:]
            loss = _cross_entropy(a, y, weight) + _cross_entropy(
                class_logits(b, n_classes), y, weight
            )
            return self._with_aux(loss, b, y, weight)
        loss = _cross_entropy(class_logits(logits, n_classes), y, weight)
        return self._with_aux(loss, logits, y, weight)

    def subclass_network_loss(self):
        """With two heads, the subclass network's own loss: this loss with one
        head, the paper's network's (early stopping monitors it); None with
        one head."""
        if not self.two_heads:
            return None
        return SubclassTeacherLoss(
            self.n_classes,
            aux_weight=self.aux_weight,
            aux_temperature=self.aux_temperature,
            aux_scope=self.aux_scope,
            n_subclasses=self.n_subclasses,
            aux_loss=self.aux_loss,
            aux_entropy_weight=self.aux_entropy_weight,
        )

    def _check_width(self, width):
        """Logits must be of the network this loss was made for."""
        n_classes, s = self.n_classes, self.n_subclasses
        if self.two_heads:
            assert width == n_classes * (1 + s), (
                f"a two-head network with {n_classes} classes of {s} subclasses "
                f"gives {n_classes * (1 + s)} outputs, not {width}"
            )
        else:
            assert width % n_classes == 0, (
                f"{width} logits are not {n_classes} blocks of subclass logits"
            )

    def _with_aux(self, loss, z, y, weight):
        if not self.aux_weight:
            return loss
        if self.aux_loss == "information":
            aux = subclass_information_loss(
                z, y, self.n_classes, self.aux_entropy_weight, sample_weight=weight
            )
        elif self.aux_scope == "within":
            aux = within_class_auxiliary_loss(
                z, y, self.n_classes, self.aux_temperature, sample_weight=weight
            )
        else:
            aux = subclass_auxiliary_loss(z, self.aux_temperature, weight)
        return loss + self.aux_weight * aux


def _weighted_mean(values, weight):
    """``sum(w * v) / sum(w)``: integer weights count as repeated rows; 0 if
    every weight is 0."""
    weight = weight.to(values.dtype)
    return (weight * values).sum() / weight.sum().clamp(min=1e-12)


def _cross_entropy(logits, y, weight):
    if weight is None:
        return F.cross_entropy(logits, y)
    return _weighted_mean(F.cross_entropy(logits, y, reduction="none"), weight)


class SubclassDistillationLoss(nn.Module):
    """The student's loss: ``alpha * distillation + (1 - alpha) * class cross-entropy``.

    Rows whose label is ``-1`` (unlabelled transfer data) take the distillation
    term alone; the result is the mean of the per-row losses. The target is
    ``(labels, teacher_logits)`` or ``(labels, teacher_logits, sample_weight)``;
    with weights, the result is the weighted mean
    ``sum_n w_n loss_n / sum_n w_n``, so that an integer weight counts as
    that many copies of the row and a weight of 0 as no row.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``.
    alpha : float, default=0.5
        Weight of the distillation term.
    temperature : float, default=1.0
        Distillation temperature ``T``.
    subclass_weight : float, default=1.0
        Weight of the within-class part of the distillation term (see
        :func:`~sklearn_subdistill.losses.subclass_distillation_loss`); ``1``
        is :func:`~sklearn_subdistill.losses.distillation_loss` itself.
    """

    def __init__(self, n_classes, alpha=0.5, temperature=1.0, subclass_weight=1.0):
        super().__init__()
        self.n_classes = n_classes
        self.alpha = alpha
        self.temperature = temperature
        self.subclass_weight = subclass_weight

    def forward(self, logits, target):
        """Loss of a batch; ``target`` is ``(labels, teacher_logits[, weight])``."""
        labels, teacher_logits, *weight = target
        distilled = subclass_distillation_loss(
            logits, teacher_logits, self.n_classes, self.temperature,
            self.subclass_weight, reduction="none",
        )  # fmt: skip
        per_row = self.alpha * distilled
        if self.alpha < 1:
            labelled = labels >= 0
            ce = F.cross_entropy(
                class_logits(logits, self.n_classes),
                labels.clamp(min=0),
                reduction="none",
            )
            per_row = per_row + (1 - self.alpha) * torch.where(labelled, ce, 0.0)
        if weight:
            return _weighted_mean(per_row, weight[0])
        return per_row.mean()
