"""One process of the data-parallel tests (``tests/test_distributed.py``).

Run as ``python tests/distributed_worker.py OUT_DIR`` with ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (as ``torchrun`` sets
them). It joins a gloo process group; computes the auxiliary losses of
:data:`AUX_LOSSES` over a gathered global batch and over its own rows; fits
with other data than its peer's (which must raise); fits every scenario of
:data:`SCENARIOS`; and writes ``rank<r>.npz`` to ``OUT_DIR`` before leaving
the group. The test imports :data:`SCENARIOS` to fit the same models in one
process.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill._distributed import GlobalBatchLoss, shard
from sklearn_subdistill.losses import (
    subclass_auxiliary_loss,
    subclass_information_loss,
    within_class_auxiliary_loss,
)

#: Shared by every scenario: small, fast and without dropout (dropout masks
#: are drawn per process, so they differ from one process's). Float64, so
#: that 2 processes and 1 agree to rounding in float64; the scenarios whose
#: names end in ``_fp32`` or ``_bf16`` train in those precisions instead.
SMALL = dict(
    hidden_layer_sizes=(16,),
    lr=1e-2,
    device="cpu",
    random_state=0,
    precision="fp64",
    # 240 rows in global batches of 33 (7 x 33 + 9): each splits unevenly in
    # two, 17 + 16 rows and 5 + 4 for the last.
    batch_size=33,
)


def make_data():
    """240 rows, 6 features, 2 classes of 2 hidden subclasses each."""
    rng = np.random.RandomState(0)
    subclass = rng.randint(4, size=240)
    centres = rng.normal(scale=3.0, size=(4, 6))
    X = (centres[subclass] + rng.normal(size=(240, 6))).astype(np.float32)
    return X, subclass // 2


def _weights(n_rows):
    """Integer row weights 0-3: rows of weight 0 are dropped, the rest weigh in
    every term of the loss (and the auxiliary loss's gather must carry them)."""
    return np.random.RandomState(1).randint(4, size=n_rows).astype(float)


class Batches:
    """An iterable of ``(X_batch, y_batch)``: the stream input of ``fit``."""

    def __init__(self, X, y, size):
        self.X, self.y, self.size = X, y, size

    def __iter__(self):
        for start in range(0, len(self.X), self.size):
            yield self.X[start : start + self.size], self.y[start : start + self.size]


def _teacher(X, y, precision="fp64"):
    # The defaults: a separate subclass network, the contrastive loss.
    return SubclassTeacherClassifier(
        n_subclasses=2, max_epochs=3, **{**SMALL, "precision": precision}
    ).fit(X, y)


def _teacher_shared_early_stopping(X, y):
    return SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head="shared",
        aux_loss="contrastive",  # the paper's loss over the gathered batch
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=2,
        max_epochs=8,
        **SMALL,
    ).fit(X, y)


def _teacher_early_stopping(X, y):
    # The default two networks, each stopped on its own validation loss.
    return SubclassTeacherClassifier(
        n_subclasses=2,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=2,
        max_epochs=8,
        **SMALL,
    ).fit(X, y)


def _teacher_stream(X, y):
    return SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL).fit(
        Batches(X, y, 33)
    )


def _student(X, y, precision="fp64"):
    # The student fits its own teacher first, data-parallel as well.
    small = {**SMALL, "precision": precision}
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **small)
    return SubclassDistilledStudent(teacher=teacher, max_epochs=3, **small).fit(X, y)


def _teacher_separate_within_weighted(X, y):
    # aux_scope="within" contrasts the rows of each class over the gathered
    # batch: it needs the gathered labels and weights as well as the logits.
    return SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head="separate",
        aux_loss="contrastive",
        aux_scope="within",
        max_epochs=3,
        **SMALL,
    ).fit(X, y, sample_weight=_weights(len(y)))


def _teacher_within_sgd(X, y):
    # Adam hardly notices a gradient off by a constant factor; SGD would.
    return SubclassTeacherClassifier(
        n_subclasses=2,
        aux_loss="contrastive",
        aux_scope="within",
        optimizer="sgd",
        max_epochs=3,
        **{**SMALL, "lr": 0.2},
    ).fit(X, y)


def _teacher_shared_within_balanced(X, y):
    return SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head="shared",
        aux_loss="contrastive",
        aux_scope="within",
        class_weight="balanced",
        max_epochs=3,
        **SMALL,
    ).fit(X, y)


def _teacher_weighted(X, y):
    # The detached head, the paper's loss (aux_scope="all"), both kinds of
    # weight.
    return SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head="detached",
        aux_loss="contrastive",
        class_weight={0: 1.0, 1: 2.5},
        max_epochs=3,
        **SMALL,
    ).fit(X, y, sample_weight=_weights(len(y)))


def _student_weighted(X, y):
    # The weights reach the teacher the student fits, and the student's loss.
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL)
    return SubclassDistilledStudent(
        teacher=teacher, class_weight="balanced", max_epochs=3, **SMALL
    ).fit(X, y, sample_weight=_weights(len(y)))


def _teacher_warm_start(X, y):
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL)
    teacher.fit(X, y)
    return teacher.set_params(warm_start=True, max_epochs=1, lr=5e-3).fit(X, y)


def _teacher_partial_fit(X, y):
    # Every process passes the same chunk, as with fit.
    teacher = SubclassTeacherClassifier(n_subclasses=2, **SMALL)
    teacher.partial_fit(X[:140], y[:140], classes=[0, 1])
    return teacher.partial_fit(X[140:], y[140:], sample_weight=_weights(100))


def _student_partial_fit(X, y):
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL)
    student = SubclassDistilledStudent(teacher=teacher, **SMALL)
    student.partial_fit(X[:140], y[:140], classes=[0, 1])
    return student.partial_fit(X[140:], y[140:])


def _teacher_fp32(X, y):
    # float32, the default precision. Compared with one process loosely.
    return _teacher(X, y, precision="fp32")


def _student_fp32(X, y):
    return _student(X, y, precision="fp32")


def _teacher_bf16(X, y):
    # Autocast on the CPU. Compared with one process more loosely still.
    return _teacher(X, y, precision="bf16")


def _student_fractional_weights(X, y):
    # Weights that are not whole numbers through the gathers.
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL)
    weight = np.arange(len(y)) % 3 + 0.5
    return SubclassDistilledStudent(teacher=teacher, max_epochs=2, **SMALL).fit(
        X, y, sample_weight=weight
    )


SCENARIOS = {
    "teacher": _teacher,
    "teacher_shared_early_stopping": _teacher_shared_early_stopping,
    "teacher_early_stopping": _teacher_early_stopping,
    "teacher_stream": _teacher_stream,
    "student": _student,
    "teacher_separate_within_weighted": _teacher_separate_within_weighted,
    "teacher_within_sgd": _teacher_within_sgd,
    "teacher_shared_within_balanced": _teacher_shared_within_balanced,
    "teacher_weighted": _teacher_weighted,
    "student_weighted": _student_weighted,
    "teacher_warm_start": _teacher_warm_start,
    "teacher_partial_fit": _teacher_partial_fit,
    "student_partial_fit": _student_partial_fit,
    "student_fractional_weights": _student_fractional_weights,
    "teacher_fp32": _teacher_fp32,
    "student_fp32": _student_fp32,
    "teacher_bf16": _teacher_bf16,
}


def _teacher_compile(X, y):
    return SubclassTeacherClassifier(
        n_subclasses=2, compile=True, max_epochs=3, **SMALL
    ).fit(X, y)


if os.environ.get("SUBDISTILL_TEST_COMPILE") == "1":
    # Opt-in: compiling takes about 30 s a process on 2 shared cores.
    SCENARIOS["teacher_compile"] = _teacher_compile


def results(estimator):
    """What the test compares: weights, training losses, epochs run."""
    out = {
        f"weights/{name}": value.numpy()
        for name, value in estimator.net_.module_.state_dict().items()
    }
    out["train_loss"] = np.array(estimator.history_[:, "train_loss"])
    out["n_iter"] = np.array(estimator.n_iter_)
    if estimator.early_stopping:
        out["valid_loss"] = np.array(estimator.history_[:, "valid_loss"])
        if "valid_subclass_loss" in estimator.history_[-1]:
            out["valid_subclass_loss"] = np.array(
                estimator.history_[:, "valid_subclass_loss"]
            )
    return out


def aux_batch():
    """One global batch of 33 rows: subclass logits (2 classes x 3), labels,
    integer weights (some 0)."""
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(33, 6, generator=generator)
    y = torch.randint(2, (33,), generator=generator)
    weight = torch.randint(4, (33,), generator=generator).float()
    return logits, y, weight


def _aux_all(logits, target):
    return subclass_auxiliary_loss(logits)


def _aux_within_weighted(logits, target):
    y, weight = target
    return within_class_auxiliary_loss(logits, y, 2, sample_weight=weight)


def _aux_information_weighted(logits, target):
    y, weight = target
    return subclass_information_loss(logits, y, 2, sample_weight=weight)


#: Auxiliary losses checked on one global batch, ``loss(logits, (y, weight))``.
AUX_LOSSES = {
    "all": _aux_all,
    "within_weighted": _aux_within_weighted,
    "information_weighted": _aux_information_weighted,
}


class _Criterion(torch.nn.Module):
    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def forward(self, logits, target):
        return self.loss(logits, target)


def auxiliary_losses():
    """Each auxiliary loss over the gathered global batch, its gradient on this
    process's rows, and the loss of this process's rows alone."""
    logits, y, weight = aux_batch()
    rows = shard(slice(0, len(logits)))
    out = {}
    for name, loss in AUX_LOSSES.items():
        local = logits[rows].clone().requires_grad_()
        target = (y[rows], weight[rows])
        global_loss = GlobalBatchLoss(_Criterion(loss))(local, target)
        global_loss.backward()
        out[f"aux/{name}/global"] = global_loss.detach().numpy()
        out[f"aux/{name}/local"] = loss(local.detach(), target).numpy()
        out[f"aux/{name}/grad"] = local.grad.numpy()
    return out


def different_data_error(rank):
    """The message of a fit given other rows on each process (all must raise)."""
    X, y = make_data()
    n_rows = len(X) - 40 * rank
    try:
        _teacher(X[:n_rows], y[:n_rows])
    except ValueError as exc:
        return str(exc)
    return ""


def main(out_dir):
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    X, y = make_data()
    out = auxiliary_losses()
    out["different_data_error"] = np.array(different_data_error(rank))
    for name, fit in SCENARIOS.items():
        for key, value in results(fit(X, y)).items():
            out[f"{name}/{key}"] = value
    # The results are on disk before the process group is torn down: a crash
    # at interpreter exit (a known gloo flake) cannot lose them.
    tmp = Path(out_dir) / f"rank{rank}.tmp.npz"
    np.savez(tmp, **out)
    tmp.rename(Path(out_dir) / f"rank{rank}.npz")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(sys.argv[1])
