"""Torch networks and training criteria used by the estimators.

The criteria wrap the functions of :mod:`sklearn_subdistill.losses` as
``torch.nn.Module`` objects with the ``forward(logits, target)`` signature that
skorch expects of a criterion.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .losses import class_logits, distillation_loss, subclass_auxiliary_loss

__all__ = ["MLP", "SubclassDistillationLoss", "SubclassTeacherLoss"]


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


class SubclassTeacherLoss(nn.Module):
    """The teacher's loss: class cross-entropy plus ``aux_weight`` * auxiliary loss.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``.
    aux_weight : float, default=1.0
        Weight ``beta`` of :func:`~sklearn_subdistill.losses.subclass_auxiliary_loss`.
    aux_temperature : float, default=1.0
        Temperature of the auxiliary loss.
    """

    def __init__(self, n_classes, aux_weight=1.0, aux_temperature=1.0):
        super().__init__()
        self.n_classes = n_classes
        self.aux_weight = aux_weight
        self.aux_temperature = aux_temperature

    def forward(self, subclass_logits, y):
        """Loss of a batch; ``y`` holds class indices in ``[0, C)``."""
        loss = F.cross_entropy(class_logits(subclass_logits, self.n_classes), y)
        if self.aux_weight:
            aux = subclass_auxiliary_loss(subclass_logits, self.aux_temperature)
            loss = loss + self.aux_weight * aux
        return loss


class SubclassDistillationLoss(nn.Module):
    """The student's loss: ``alpha * distillation + (1 - alpha) * class cross-entropy``.

    Rows whose label is ``-1`` (unlabelled transfer data) take the distillation
    term alone; the result is the mean of the per-row losses.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``.
    alpha : float, default=0.5
        Weight of the distillation term.
    temperature : float, default=1.0
        Distillation temperature ``T``.
    """

    def __init__(self, n_classes, alpha=0.5, temperature=1.0):
        super().__init__()
        self.n_classes = n_classes
        self.alpha = alpha
        self.temperature = temperature

    def forward(self, logits, target):
        """Loss of a batch; ``target`` is ``(labels, teacher_logits)``."""
        labels, teacher_logits = target
        per_row = self.alpha * distillation_loss(
            logits, teacher_logits, self.temperature, reduction="none"
        )
        if self.alpha < 1:
            labelled = labels >= 0
            ce = F.cross_entropy(
                class_logits(logits, self.n_classes),
                labels.clamp(min=0),
                reduction="none",
            )
            per_row = per_row + (1 - self.alpha) * torch.where(labelled, ce, 0.0)
        return per_row.mean()
