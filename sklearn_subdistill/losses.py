"""Loss functions of subclass distillation: plain tensor functions.

Everything here takes and returns ``torch.Tensor`` objects and holds no state,
so each function can be checked against numbers computed by hand. The
notation follows Müller, Kornblith and Hinton (2020): ``C`` classes, ``s``
subclasses per class and ``K = C * s`` subclass logits per example, grouped in
contiguous blocks (subclass ``k`` belongs to class ``k // s``).
"""

import math

import torch
import torch.nn.functional as F

__all__ = [
    "class_logits",
    "distillation_loss",
    "subclass_auxiliary_loss",
    "subclass_distillation_loss",
    "subclass_information_loss",
    "within_class_auxiliary_loss",
]

_STANDARDISE_EPS = 1e-9


def class_logits(subclass_logits, n_classes):
    """Class logits from subclass logits: a log-sum-exp over each class's block.

    ``softmax(class_logits(z, C))`` equals the sum, within each class, of
    ``softmax(z)`` over all ``K`` subclass logits.

    Parameters
    ----------
    subclass_logits : torch.Tensor of shape (n_samples, n_classes * n_subclasses)
        Subclass logits; subclass ``k`` belongs to class ``k // n_subclasses``.
    n_classes : int
        Number of classes ``C``; must divide the number of columns.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_classes)
        The class logits.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import class_logits
    >>> z = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    >>> class_logits(z, 2).softmax(1)
    tensor([[0.3000, 0.7000]])
    """
    if subclass_logits.ndim != 2:
        raise ValueError(
            "subclass_logits must be 2-D (n_samples, n_logits), got shape "
            f"{tuple(subclass_logits.shape)}."
        )
    n_samples, n_logits = subclass_logits.shape
    if n_classes < 1 or n_logits % n_classes:
        raise ValueError(
            f"n_classes={n_classes} must be a positive divisor of the number of "
            f"subclass logits ({n_logits})."
        )
    # (N, C*s) -> (N, C, s)
    blocks = subclass_logits.reshape(n_samples, n_classes, n_logits // n_classes)
    return torch.logsumexp(blocks, dim=2)


def subclass_auxiliary_loss(subclass_logits, temperature=1.0, sample_weight=None):
    """Auxiliary loss that keeps every subclass in use.

    Each example's logit vector is standardised across its ``K`` entries
    (population variance, ``eps = 1e-9``) and scaled by ``1 / sqrt(T * K)``;
    the loss is the mean over the batch of the log-sum-exp of each row of the
    batch's Gram matrix, minus ``1 / T`` and ``log N``. It penalises examples
    whose subclass logits are correlated: every other example in the batch is
    a negative, so the value depends on the batch size ``N``.

    Parameters
    ----------
    subclass_logits : torch.Tensor of shape (n_samples, n_logits)
        Subclass logits of one batch.
    temperature : float, default=1.0
        The auxiliary temperature ``T_aux`` (> 0). Lower values sharpen the
        contrast between examples.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Non-negative row weights. A row of weight ``w`` counts as ``w``
        copies of itself, both as an anchor and as a negative; rows of weight
        0 are left out. None weighs every row 1.

    Returns
    -------
    torch.Tensor
        A scalar in ``[-log N, 0]`` (``N`` the sum of the weights).

    Notes
    -----
    ``L_aux = mean_n(logsumexp_m(zn_n . zn_m)) - 1/T - log(N)``. The diagonal of
    the Gram matrix is ``1/T`` (up to ``eps``), which gives the bounds: ``0``
    when all examples have the same standardised logits, ``-log N`` in the
    limit where every pair of examples is strongly anti-correlated. A row whose
    logits are all equal (always the case when ``K = 1``) standardises to zero
    and contributes a diagonal of 0 instead; its gradient is zero.

    With weights ``w``,
    ``L_aux = sum_n w_n logsumexp_m(zn_n . zn_m + log w_m) / W - 1/T - log(W)``
    with ``W = sum_n w_n``: for integer weights, exactly the loss of the batch
    in which row ``n`` appears ``w_n`` times; unchanged when all weights are
    multiplied by the same factor.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import subclass_auxiliary_loss
    >>> same = torch.tensor([[1.0, 2.0, 3.0]]).repeat(4, 1)
    >>> round(float(subclass_auxiliary_loss(same)), 6)
    0.0
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if sample_weight is not None:
        kept = sample_weight > 0
        subclass_logits, sample_weight = subclass_logits[kept], sample_weight[kept]
        if not len(sample_weight):
            return subclass_logits.new_zeros(())
    n_samples, n_logits = subclass_logits.shape
    mean = subclass_logits.mean(dim=1, keepdim=True)
    var = subclass_logits.var(dim=1, unbiased=False, keepdim=True)
    normed = (subclass_logits - mean) / torch.sqrt(var + _STANDARDISE_EPS)
    normed = normed / math.sqrt(temperature * n_logits)
    gram = normed @ normed.T  # (N, K) @ (K, N) -> (N, N)
    if sample_weight is None:
        return (
            torch.logsumexp(gram, dim=1).mean()
            - 1.0 / temperature
            - math.log(n_samples)
        )
    weight = sample_weight.to(gram.dtype)
    total = weight.sum()
    # Row m repeated w_m times adds w_m * exp(gram[n, m]): exp(gram + log w_m).
    per_row = torch.logsumexp(gram + weight.log()[None, :], dim=1)  # (N,)
    return (weight * per_row).sum() / total - 1.0 / temperature - total.log()


def within_class_auxiliary_loss(
    subclass_logits, y, n_classes, temperature=1.0, sample_weight=None
):
    """The auxiliary loss within each class, over that class's own block.

    The rows of each class ``c`` are contrasted only with each other, over
    their ``s`` logits of block ``c``; the per-class losses are weighted by the
    class's share of the batch:
    ``sum_c (N_c / N) * subclass_auxiliary_loss(z[y == c, c*s:(c+1)*s])``.
    Classes with fewer than two rows in the batch contribute nothing. With
    ``sample_weight``, each class's loss is the weighted
    :func:`subclass_auxiliary_loss` and its share is its share of the batch's
    total weight; rows of weight 0 are left out.

    Parameters
    ----------
    subclass_logits : torch.Tensor of shape (n_samples, n_classes * n_subclasses)
        Subclass logits of one batch.
    y : torch.Tensor of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes ``C``.
    temperature : float, default=1.0
        The auxiliary temperature ``T_aux`` (> 0).
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Non-negative row weights, as in :func:`subclass_auxiliary_loss`.

    Returns
    -------
    torch.Tensor
        A scalar in ``[-log N, 0]``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import within_class_auxiliary_loss
    >>> z = torch.tensor([[1.0, 2, 5, 3], [1, 2, 3, 5], [0, 0, 5, 3], [0, 0, 3, 5]])
    >>> y = torch.tensor([0, 0, 1, 1])  # alike within class 0, opposed within 1
    >>> round(float(within_class_auxiliary_loss(z, y, n_classes=2)), 4)
    -0.2831
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    n_samples, n_logits = subclass_logits.shape
    s = n_logits // n_classes
    total = subclass_logits.new_zeros(())
    if sample_weight is not None:
        batch_weight = sample_weight.sum()
    for c in range(n_classes):
        rows = y == c
        if sample_weight is not None:
            rows = rows & (sample_weight > 0)
        n_rows = int(rows.sum())
        if n_rows < 2:
            continue
        block = subclass_logits[rows, c * s : (c + 1) * s]
        if sample_weight is None:
            share = n_rows / n_samples
            aux = subclass_auxiliary_loss(block, temperature)
        else:
            weight = sample_weight[rows]
            share = weight.sum() / batch_weight
            aux = subclass_auxiliary_loss(block, temperature, weight)
        total = total + share * aux
    return total


def subclass_information_loss(
    subclass_logits, y, n_classes, entropy_weight=0.3, sample_weight=None
):
    """Auxiliary loss that splits each class into confident, balanced subclasses.

    For the rows of each class ``c``, ``p_n = softmax(z_n[c*s:(c+1)*s])`` is
    row ``n``'s distribution over the ``s`` subclasses of its own class. The
    loss of class ``c`` is ``entropy_weight * mean_n H(p_n) - H(mean_n p_n)``:
    the second term wants every subclass used equally often, the first wants
    each row to belong to one subclass. With ``entropy_weight=1`` it is minus
    the mutual information between a row and its subclass, the objective of
    discriminative clustering by regularised information maximisation
    (Krause, Perona and Gomes, 2010); smaller weights leave rows softer
    splits. The per-class losses are weighted by the class's share of the
    batch.

    Parameters
    ----------
    subclass_logits : torch.Tensor of shape (n_samples, n_classes * n_subclasses)
        Subclass logits of one batch.
    y : torch.Tensor of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes ``C``.
    entropy_weight : float, default=0.3
        Weight (>= 0) of the rows' mean entropy against the entropy of their
        mean.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Non-negative row weights: a row of weight ``w`` counts as ``w`` copies
        of itself in both means and in the class's share; rows of weight 0
        are left out. None weighs every row 1.

    Returns
    -------
    torch.Tensor
        A scalar in ``[-log s, entropy_weight * log s]``.

    Notes
    -----
    Unlike :func:`subclass_auxiliary_loss`, the value does not depend on the
    batch size beyond the noise of its means, and rows are never contrasted
    with the rows of other classes. A class with no row (or zero total
    weight) in the batch contributes nothing.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import subclass_information_loss
    >>> z = 10 * torch.eye(4)  # four rows, each sure of another subclass
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> round(float(subclass_information_loss(z, y, n_classes=2)), 3)  # -log 2
    -0.693
    """
    if entropy_weight < 0:
        raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight}.")
    n_samples, n_logits = subclass_logits.shape
    s = n_logits // n_classes
    # (N, C*s) -> (N, C, s) -> the block of each row's own class: (N, s)
    blocks = subclass_logits.reshape(n_samples, n_classes, s)
    own = blocks[torch.arange(n_samples, device=y.device), y]
    log_p = F.log_softmax(own, dim=1)
    p = log_p.exp()
    row_entropy = -(p * log_p).sum(dim=1)  # (N,)
    weight = (
        torch.ones_like(row_entropy)
        if sample_weight is None
        else sample_weight.to(row_entropy.dtype)
    )
    total = subclass_logits.new_zeros(())
    batch_weight = weight.sum().clamp(min=1e-12)
    for c in range(n_classes):
        w = weight * (y == c)
        class_weight = w.sum()
        if not class_weight > 0:
            continue
        mean_p = (w[:, None] * p).sum(dim=0) / class_weight  # (s,)
        marginal_entropy = -(mean_p * mean_p.clamp(min=1e-12).log()).sum()
        conditional_entropy = (w * row_entropy).sum() / class_weight
        loss = entropy_weight * conditional_entropy - marginal_entropy
        total = total + class_weight / batch_weight * loss
    return total


def distillation_loss(student_logits, teacher_logits, temperature, reduction="mean"):
    """Knowledge-distillation loss at temperature ``T``.

    ``T^2 * CE(softmax(teacher / T), log_softmax(student / T))``, averaged over
    the batch. No gradient flows into the teacher's logits.

    Parameters
    ----------
    student_logits : torch.Tensor of shape (n_samples, n_logits)
        The student's logits.
    teacher_logits : torch.Tensor of shape (n_samples, n_logits)
        The teacher's logits (detached inside).
    temperature : float
        Softening temperature ``T`` (> 0).
    reduction : {"mean", "none"}, default="mean"
        ``"none"`` returns the per-example losses of shape ``(n_samples,)``.

    Returns
    -------
    torch.Tensor
        A scalar, or a vector with ``reduction="none"``.

    Notes
    -----
    The ``T^2`` factor keeps the gradient's scale roughly independent of ``T``
    (Hinton et al., 2015). The value is a cross-entropy, not a KL divergence:
    its minimum over the student is the teacher's entropy, reached when the
    student's softened distribution equals the teacher's.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import distillation_loss
    >>> t = torch.tensor([[0.0, 0.0]])
    >>> float(distillation_loss(t, t, temperature=1.0))  # entropy of (0.5, 0.5)
    0.6931...
    """
    _check_distillation(student_logits, teacher_logits, temperature, reduction)
    target = F.softmax(teacher_logits.detach() / temperature, dim=1)
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    per_example = -(target * log_student).sum(dim=1) * temperature**2
    return per_example.mean() if reduction == "mean" else per_example


def _check_distillation(student_logits, teacher_logits, temperature, reduction):
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must have the same shape."
        )
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")


def subclass_distillation_loss(
    student_logits,
    teacher_logits,
    n_classes,
    temperature,
    subclass_weight=1.0,
    reduction="mean",
):
    """Distillation loss with the teacher's split of each class weighted apart.

    At temperature ``T``, with ``P(c)`` and ``q(j | c)`` the class and
    within-class probabilities of the softened subclass distribution, the
    distillation cross-entropy of :func:`distillation_loss` decomposes
    exactly as ``T^2 * (CE_class + CE_within)``:
    ``CE_class = -sum_c P_t(c) log P_s(c)`` (what conventional distillation
    transfers) and ``CE_within = -sum_c P_t(c) sum_j q_t(j|c) log q_s(j|c)``
    (how the teacher splits each class). This function returns
    ``T^2 * (CE_class + subclass_weight * CE_within)``.

    Parameters
    ----------
    student_logits : torch.Tensor of shape (n_samples, n_classes * n_subclasses)
        The student's subclass logits.
    teacher_logits : torch.Tensor of shape (n_samples, n_classes * n_subclasses)
        The teacher's subclass logits (detached inside).
    n_classes : int
        Number of classes ``C``; subclass ``k`` belongs to class ``k // s``.
    temperature : float
        Softening temperature ``T`` (> 0).
    subclass_weight : float, default=1.0
        Weight (>= 0) of the within-class term. ``1`` (or one subclass per
        class) gives :func:`distillation_loss` itself, computed as such;
        ``0`` distils the class probabilities alone.
    reduction : {"mean", "none"}, default="mean"
        ``"none"`` returns the per-example losses of shape ``(n_samples,)``.

    Returns
    -------
    torch.Tensor
        A scalar, or a vector with ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_subdistill.losses import (
    ...     distillation_loss, subclass_distillation_loss)
    >>> s, t = torch.randn(3, 4), torch.randn(3, 4)
    >>> full = distillation_loss(s, t, temperature=2.0)
    >>> bool(torch.isclose(subclass_distillation_loss(s, t, 2, 2.0), full))
    True
    """
    _check_distillation(student_logits, teacher_logits, temperature, reduction)
    if subclass_weight < 0:
        raise ValueError(f"subclass_weight must be >= 0, got {subclass_weight}.")
    n_samples, n_logits = student_logits.shape
    if subclass_weight == 1 or n_logits == n_classes:
        # The whole distribution (or no split to weigh): the plain loss.
        return distillation_loss(student_logits, teacher_logits, temperature, reduction)
    s = n_logits // n_classes
    # (N, K) -> (N, C, s): log-probabilities of the softened distributions
    log_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    log_s = F.log_softmax(student_logits / temperature, dim=1)
    log_t = log_t.reshape(n_samples, n_classes, s)
    log_s = log_s.reshape(n_samples, n_classes, s)
    class_t, class_s = torch.logsumexp(log_t, dim=2), torch.logsumexp(log_s, dim=2)
    class_p = class_t.exp()  # (N, C)
    ce_class = -(class_p * class_s).sum(dim=1)
    within_t = (log_t - class_t.unsqueeze(2)).exp()  # q_t(j | c): (N, C, s)
    within_s = log_s - class_s.unsqueeze(2)  # log q_s(j | c)
    ce_within = -(class_p.unsqueeze(2) * within_t * within_s).sum(dim=(1, 2))
    per_example = (ce_class + subclass_weight * ce_within) * temperature**2
    return per_example.mean() if reduction == "mean" else per_example
