"""One process of the data-parallel tests (``tests/test_distributed.py``).

Run as ``python tests/distributed_worker.py OUT_DIR`` with ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (as ``torchrun`` sets
them). It joins a gloo process group, fits every scenario of
:data:`SCENARIOS`, checks the global auxiliary loss against the per-process
one, and writes ``rank<r>.npz`` to ``OUT_DIR`` before leaving the group. The
test imports :data:`SCENARIOS` to fit the same models in one process.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier

#: Shared by every scenario: small, fast and without dropout (dropout masks
#: are drawn per process, so they differ from one process's).
SMALL = dict(
    hidden_layer_sizes=(16,),
    lr=1e-2,
    device="cpu",
    random_state=0,
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


class Batches:
    """An iterable of ``(X_batch, y_batch)``: the stream input of ``fit``."""

    def __init__(self, X, y, size):
        self.X, self.y, self.size = X, y, size

    def __iter__(self):
        for start in range(0, len(self.X), self.size):
            yield self.X[start : start + self.size], self.y[start : start + self.size]


def _teacher(X, y):
    return SubclassTeacherClassifier(n_subclasses=2, max_epochs=3, **SMALL).fit(X, y)


def _teacher_shared_early_stopping(X, y):
    return SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head="shared",
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


def _student(X, y):
    # The student fits its own teacher first, data-parallel as well.
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **SMALL)
    return SubclassDistilledStudent(teacher=teacher, max_epochs=3, **SMALL).fit(X, y)


def _student_fp64_weighted(X, y):
    # float64 logits, teacher logits and weights through the gathers.
    fp64 = dict(SMALL, precision="fp64")
    teacher = SubclassTeacherClassifier(n_subclasses=2, max_epochs=2, **fp64)
    weight = np.arange(len(y)) % 3 + 0.5
    return SubclassDistilledStudent(teacher=teacher, max_epochs=2, **fp64).fit(
        X, y, sample_weight=weight
    )


SCENARIOS = {
    "teacher": _teacher,
    "teacher_shared_early_stopping": _teacher_shared_early_stopping,
    "teacher_stream": _teacher_stream,
    "student": _student,
    "student_fp64_weighted": _student_fp64_weighted,
}


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
    return out


def auxiliary_losses(rank):
    """The global auxiliary loss, its gradient, and this process's local one."""
    from sklearn_subdistill._distributed import GlobalBatchLoss, shard
    from sklearn_subdistill.losses import subclass_auxiliary_loss

    class AuxOnly(torch.nn.Module):
        def forward(self, logits, target):
            return subclass_auxiliary_loss(logits)

    logits = torch.randn(33, 6, generator=torch.Generator().manual_seed(1))
    local = logits[shard(slice(0, 33))].clone().requires_grad_()
    global_loss = GlobalBatchLoss(AuxOnly())(local, torch.zeros(len(local)))
    global_loss.backward()
    return {
        "aux_global": global_loss.detach().numpy(),
        "aux_local": subclass_auxiliary_loss(local.detach()).numpy(),
        "aux_grad": local.grad.numpy(),
    }


def main(out_dir):
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    X, y = make_data()
    out = auxiliary_losses(rank)
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
