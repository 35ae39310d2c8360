"""How much of its teacher's split a student distils: ``subclass_weight="auto"``.

The student holds out a quarter of its labelled rows, trains one student per
candidate weight on the rest (unlabelled rows included), and keeps the weight
whose student has the lowest log-loss on the held-out labels. ``0`` is
conventional distillation of the teacher's class probabilities; ``1`` the
paper's loss on the teacher's whole subclass distribution. So a split that
does not help the student on this data is not distilled.
"""

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

#: The weights ``"auto"`` chooses from, in order of preference on a tie.
AUTO_SUBCLASS_WEIGHTS = (0.0, 1.0)
#: Share of the labelled rows held out to choose on.
AUTO_VALIDATION_FRACTION = 0.25
#: The weight ``"auto"`` takes where it cannot hold rows out (a stream of
#: batches, a process group, too few labelled rows to score on).
AUTO_FALLBACK_WEIGHT = 0.0


def select_subclass_weight(student, data, teacher, classes):
    """The candidate weight whose student predicts held-out labels best.

    Parameters
    ----------
    student : SubclassDistilledStudent
        The student being fitted; each candidate is a clone of it.
    data : TrainingData
        The rows ``fit`` was given. Only arrays held whole can be split.
    teacher : estimator
        The fitted teacher, distilled (frozen) by every candidate.
    classes : ndarray
        The teacher's classes.

    Returns
    -------
    weight : float
        The chosen weight.
    scores : dict
        Held-out log-loss of each candidate's student, by weight; empty when
        nothing could be held out (the weight is then
        :data:`AUTO_FALLBACK_WEIGHT`).
    """
    X = getattr(data, "X", None)
    if X is None or (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        return AUTO_FALLBACK_WEIGHT, {}
    labelled = np.flatnonzero(data.labelled)
    labels = np.asarray(data.values)
    n_held = int(np.ceil(AUTO_VALIDATION_FRACTION * len(labelled)))
    if n_held < 2 * len(classes) or len(labelled) - n_held < len(classes):
        return AUTO_FALLBACK_WEIGHT, {}
    seed = student.random_state if isinstance(student.random_state, int) else 0
    try:
        _, held = train_test_split(
            np.arange(len(labelled)), test_size=n_held, random_state=seed,
            stratify=labels,
        )  # fmt: skip
    except ValueError:  # a class too rare to stratify
        _, held = train_test_split(
            np.arange(len(labelled)), test_size=n_held, random_state=seed
        )
    keep = np.ones(len(data.labelled), dtype=bool)
    keep[labelled[held]] = False
    # Every row's label, -1 where there is none (object dtype keeps string labels).
    y = np.full(
        len(keep), -1, dtype=labels.dtype if labels.dtype.kind in "iu" else object
    )
    y[labelled] = labels
    weight = data.sample_weight
    fit_params = {} if weight is None else {"sample_weight": weight[keep]}
    held_weight = None if weight is None else weight[labelled[held]]
    scores = {}
    for candidate in AUTO_SUBCLASS_WEIGHTS:
        model = clone(student).set_params(
            teacher=FrozenEstimator(teacher), subclass_weight=candidate,
            warm_start=False, verbose=0,
        )  # fmt: skip
        model.fit(X[keep], y[keep], **fit_params)
        proba = model.predict_proba(X[labelled[held]])
        scores[candidate] = log_loss(
            labels[held], proba, labels=classes, sample_weight=held_weight
        )
    return min(scores, key=scores.get), scores
