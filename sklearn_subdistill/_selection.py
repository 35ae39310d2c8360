"""Whether a student distils its teacher's split: ``subclass_weight="auto"``.

The student splits its labelled rows into four folds and, for each
candidate, trains one student per fold on the other three folds; it keeps the
candidate whose students predict the held-out labels best (every labelled row
predicted once, by the student that did not train on it): lowest log-loss
after temperature scaling [1]_, so that a student distilled at a high
temperature (less confident, not less accurate) is not penalised for its
calibration. The chosen candidate is then fitted on all rows.
The candidates are conventional distillation (``subclass_weight=0`` at the
student's ``temperature``) and the paper's loss (the whole subclass
distribution, ``subclass_weight=1``, at the paper's temperature 4) on the
teacher's subclass distribution as it is (``class_mass="subclasses"``) or on
its ``predict_proba`` split as that distribution splits each class
(``class_mass="predict_proba"``). So a split that does not help the student
on this data is not distilled. On the study's real data the first split
candidate carried the gain on images, and the second was the better one
where the subclass network's class probabilities were worse than the class
network's (Stop-question-frisk, with teachers trained for 30 epochs).

The held-out rows are usually rows the teacher was fitted on, and a teacher
fitted on them makes its split look better there than on new rows: on
Stop-question-frisk, with early-stopped teachers, these scores kept the
split in 7 of 10 runs and it lost 1.87 and 1.23 ROC AUC points on average
to conventional distillation. So where they keep a split, the candidates
are scored again with *fold teachers*: clones of the teacher (of the
estimator inside a frozen one) fitted on each fold's other rows alone, so
that the held-out rows are new to them; the split is kept only where these
scores keep one too. On the study's six data sets this cost 0.31 points in
the worst table cell (was 1.87) and kept part of the split's gain on images
(Fashion-MNIST 1% +0.58, was +0.94; 5% 0, was +0.20; digits +4.44 and +0.78,
were +5.96 and +1.15); on two real tables outside the study it never cost
(``benchmarks/results/auto_choice.md``). A fold teacher knows fewer labels
than a teacher fitted on more rows than the student has, so it can miss a
split the teacher would give well; the price is four teacher fits and up
to twelve student fits more, only where the first scores keep a split.

Four folds rather than one held-out quarter:
with a few hundred labelled rows one quarter chose wrongly often enough to
cost up to 0.9 AUC points on tables and half the split's gain on
Fashion-MNIST (``benchmarks/results/archive/paper_protocol_single_holdout.md``).
The margin: a split chosen wrongly cost up to several AUC points on tables,
one chosen rightly gained about a point (``benchmarks/results/paper_protocol.md``).

With unlabelled transfer rows the student distils conventionally without
choosing: on every real data set of the study, the split gained nothing
there and cost up to several points of ROC AUC on tables, and held-out
labels (which the teacher has usually seen) favoured it wrongly.

References
----------
.. [1] C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of
   Modern Neural Networks", ICML, 2017.
"""

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import has_fit_parameter

from ._teachers import split_class_log_proba, teacher_logits, teacher_to_fit
from ._training_data import ArrayData

#: The candidates ``"auto"`` chooses from, by name: ``(subclass_weight,
#: temperature, class_mass)``, in order of preference on a tie; a temperature
#: of ``None`` is the student's own ``temperature``.
AUTO_CANDIDATES = {
    "conventional": (0.0, None, None),
    "subclasses": (1.0, 4.0, "subclasses"),
    "predict_proba": (1.0, 4.0, "predict_proba"),
}
#: Folds of the labelled rows: each candidate's students are fitted on all
#: folds but one and predict that one, so every labelled row is scored once.
AUTO_FOLDS = 4
#: How much lower (relative) a split candidate's log-loss must be than
#: conventional distillation's to be chosen: a split that loses costs more
#: than one that wins gains (up to several points of ROC AUC on tables).
AUTO_MARGIN = 0.02
#: Whether a split kept on the teacher's scores is checked with fold
#: teachers (fitted on each fold's other rows, so new to its held-out rows).
AUTO_FOLD_TEACHERS = True
#: What the names of the scores with fold teachers end with.
FOLD_TEACHERS = " (fold teachers)"
#: The weight ``"auto"`` takes with unlabelled transfer rows, and where it
#: cannot hold rows out (a stream of batches, a process group, fewer than two
#: labelled rows per class and fold).
AUTO_FALLBACK_WEIGHT = 0.0


def auto_temperature(weight):
    """The temperature of the ``"auto"`` candidates that distil the split
    with ``weight`` (all of them share it)."""
    (temperature,) = {t for w, t, _ in AUTO_CANDIDATES.values() if w == weight}
    return temperature


def resolve_subclass_weight(student, data, classes, n_subclasses, incremental):
    """The weight and class mass a student trains with, and the scores they
    were chosen by.

    The parameters as they are, or ``"auto"``'s choice: :data:`AUTO_FALLBACK_WEIGHT`
    for one chunk of ``partial_fit``, 0 for a teacher without subclasses or a
    student that ignores its teacher (``alpha=0``), :func:`select_subclass_weight`
    otherwise.
    """
    if student.subclass_weight != "auto":
        return float(student.subclass_weight), student.class_mass, {}
    if n_subclasses == 1 or student.alpha == 0:
        # no split to weigh, or no teacher to distil
        return 0.0, student.class_mass, {}
    if incremental:  # one epoch on one chunk: nothing to choose on
        return AUTO_FALLBACK_WEIGHT, student.class_mass, {}
    return select_subclass_weight(student, data, student.teacher_, classes)


def select_subclass_weight(student, data, teacher, classes):
    """The candidate whose students predict held-out labels best, with the
    teacher and with teachers that have not seen the held-out rows.

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
    class_mass : str
        The chosen class mass (the student's parameter where the chosen
        weight is 0).
    scores : dict
        Temperature-scaled log-loss of each candidate's students on the
        labelled rows, each row predicted by the student of the fold that
        held it out, by candidate name (:data:`AUTO_CANDIDATES`): distilling
        ``teacher``, and, under the name followed by :data:`FOLD_TEACHERS`,
        distilling a teacher fitted on the fold's other rows (scored only
        where the first scores keep a split). Empty when nothing could be
        held out (the weight is then :data:`AUTO_FALLBACK_WEIGHT`). A teacher
        whose subclass distribution sums to its ``predict_proba`` makes the
        last two candidates the same; only the first of them is fitted.
    """
    fallback = AUTO_FALLBACK_WEIGHT, student.class_mass, {}
    in_group = torch.distributed.is_available() and torch.distributed.is_initialized()
    if not isinstance(data, ArrayData) or in_group or data.n_unlabelled:
        return fallback
    # Every row is labelled here: data.values holds one label per row of X.
    X, labels = data.X, np.asarray(data.values)
    if len(labels) < 2 * AUTO_FOLDS * len(classes):
        return fallback
    seed = student.random_state if isinstance(student.random_state, int) else 0
    folds = list(_folds(labels, seed))
    rows = X, labels, data.sample_weight, folds, classes
    teachers = [teacher] * len(folds)
    # The first candidate's fits check the input before any network runs.
    scores = _scores(student, rows, teachers, ["conventional"])
    names = list(AUTO_CANDIDATES)
    # (a property of the teacher, and of teachers like it: a few rows tell)
    if _sums_to_predict_proba(teacher, X[:256]):
        names.remove("predict_proba")
    scores.update(_scores(student, rows, teachers, names[1:]))
    chosen = choose(scores)
    if chosen != "conventional" and AUTO_FOLD_TEACHERS:  # the teacher may have
        # been fitted on the held-out rows
        fold_teachers = _fold_teachers(student, teacher, rows)
        if fold_teachers is None:  # the split cannot be checked
            return AUTO_FALLBACK_WEIGHT, student.class_mass, scores
        fresh = _scores(student, rows, fold_teachers, names)
        chosen = choose(scores, fresh)
        scores.update({f"{name}{FOLD_TEACHERS}": loss for name, loss in fresh.items()})
    weight, _, class_mass = AUTO_CANDIDATES[chosen]
    return weight, class_mass or student.class_mass, scores


def _scores(student, rows, teachers, names):
    """Each named candidate's cross-validated scaled log-loss, the students
    of each fold distilling that fold's teacher."""
    X, labels, row_weight, folds, classes = rows
    scores = {}
    for name in names:
        weight, temperature, class_mass = AUTO_CANDIDATES[name]
        model = clone(student).set_params(
            subclass_weight=weight,
            temperature=temperature or student.temperature,
            class_mass=class_mass or student.class_mass, warm_start=False,
            verbose=0,
        )  # fmt: skip
        proba = np.empty((len(labels), len(classes)))
        for (fit_rows, held), teacher in zip(folds, teachers, strict=True):
            fit_params = {}
            if row_weight is not None:
                fit_params["sample_weight"] = row_weight[fit_rows]
            model.set_params(teacher=FrozenEstimator(teacher))
            model.fit(X[fit_rows], labels[fit_rows], **fit_params)
            proba[held] = model.predict_proba(X[held])
        scores[name] = scaled_log_loss(labels, proba, classes, row_weight)
    return scores


def _fold_teachers(student, teacher, rows):
    """One teacher per fold, fitted on the fold's other rows alone: a clone
    of the teacher the student fits (its ``teacher``, or the default), or of
    the estimator inside a frozen teacher. ``None`` where a fold's other
    rows lack a class (a class with fewer rows than folds): a teacher fitted
    on them would not know it."""
    X, labels, row_weight, folds, classes = rows
    if any(len(np.unique(labels[fit_rows])) < len(classes) for fit_rows, _ in folds):
        return None
    unfitted = teacher_to_fit(student)
    if unfitted is None:  # a FrozenEstimator: the same estimator, unfitted
        unfitted = student.teacher.estimator
    weighted = row_weight is not None and has_fit_parameter(unfitted, "sample_weight")
    teachers = []
    for fit_rows, _ in folds:
        fit_params = {"sample_weight": row_weight[fit_rows]} if weighted else {}
        teachers.append(
            clone(unfitted).fit(X[fit_rows], labels[fit_rows], **fit_params)
        )
    return teachers


def choose(scores, fold_teacher_scores=None):
    """The name of the chosen candidate: the best split candidate where its
    log-loss is at least :data:`AUTO_MARGIN` (relative) below conventional
    distillation's and, where ``fold_teacher_scores`` are given, where the
    best split's is so there too; else ``"conventional"``."""
    splits = {name: score for name, score in scores.items() if name != "conventional"}
    best = min(splits, key=splits.get)
    if splits[best] >= (1 - AUTO_MARGIN) * scores["conventional"]:
        return "conventional"
    if fold_teacher_scores is None or choose(fold_teacher_scores) != "conventional":
        return best
    return "conventional"


def _folds(labels, seed):
    """``(fit rows, held rows)`` of each of :data:`AUTO_FOLDS` folds,
    stratified where every class has a row in each fold; the fit rows in
    their own order, as ``fit`` sees them."""
    counts = np.unique(labels, return_counts=True)[1]
    kind = StratifiedKFold if counts.min() >= AUTO_FOLDS else KFold
    splitter = kind(n_splits=AUTO_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, held in splitter.split(np.zeros(len(labels)), labels):
        yield np.sort(fit_rows), held


def _sums_to_predict_proba(teacher, X):
    """Whether the teacher's subclass distribution sums to its class
    probabilities on ``X`` (to float32 rounding): then both class masses give
    the same targets."""
    subclass = teacher_logits(teacher, X, np.float64)
    classes = teacher_logits(teacher, X, np.float64, classes_only=True)
    split = split_class_log_proba(classes, subclass)
    return np.allclose(np.exp(split), np.exp(subclass), rtol=0, atol=1e-6)


def scaled_log_loss(y_true, proba, classes, sample_weight=None):
    """Log-loss of ``proba`` after temperature scaling, the temperature fitted
    on these rows (searched over ``[e^-3, e^3]``): how well the
    probabilities rank, not how confident they are."""
    logits = np.log(np.clip(proba, 1e-12, None))

    def loss(log_t):
        scaled = np.exp(log_softmax(logits / np.exp(log_t), axis=1))
        return log_loss(y_true, scaled, labels=classes, sample_weight=sample_weight)

    return minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").fun
