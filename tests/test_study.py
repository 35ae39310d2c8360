"""The paper-protocol study behind ``benchmarks/paper_protocol.py``: its rows,
tables and parallel seeds (the harness lives with the benchmarks)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sklearn_subdistill.datasets import make_subclass_classification


def _load_study():
    """benchmarks/_study.py as a module, without putting benchmarks/ on
    sys.path: its distributed.py would shadow dask's ``distributed`` in the
    processes started afterwards (tests/test_dask.py's cluster never came up)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "_study.py"
    spec = importlib.util.spec_from_file_location("benchmarks_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_study = _load_study()
BASELINES, STUDENTS = _study.BASELINES, _study.STUDENTS
difference_table, fit_teachers = _study.difference_table, _study.fit_teachers
paper_protocol_study, summary_table = _study.paper_protocol_study, _study.summary_table


FAST = dict(
    fractions=(0.2,),
    seeds=(0,),
    teacher_params={"max_epochs": 2, "hidden_layer_sizes": (16,)},
    student_steps=4,
)


@pytest.fixture(scope="module")
def data():
    return make_subclass_classification(
        n_samples=200, n_features=6, n_classes=2, n_subclasses=3, random_state=0
    )


def test_rows_hold_every_student_teacher_and_baseline(data):
    X, y, hidden = data
    rows = paper_protocol_study(X, y, hidden, **FAST)
    assert [(r["regime"], r["fraction"]) for r in rows] == [
        ("low data", 0.2),
        ("transfer", 0.2),
    ]
    low, transfer = rows
    assert low["purity subclass"] >= low["recovery subclass"]
    for key in (*STUDENTS, *BASELINES, "teacher subclass", "teacher paper",
                "recovery subclass", "recovery paper, n_subclasses=5",
                "recovery subclass, n_subclasses=5", "purity embedding"):  # fmt: skip
        assert 0 <= low[key] <= 1, key
    assert low["subclass weight chosen"] in (0.0, 1.0)
    assert low["n_labelled"] == transfer["n_labelled"] == 28  # 20% of 140 rows
    # Labels-only students and the baselines never see the transfer rows.
    for key in ("labels only", "MLPClassifier", "LogisticRegression"):
        assert low[key] == transfer[key]


def test_groups_stay_on_one_side_of_the_split(data):
    X, y, _ = data
    groups = np.arange(len(y)) // 4
    rows = paper_protocol_study(X, y, None, groups, **FAST)
    assert "recovery subclass" not in rows[0]  # nothing hidden to recover
    train, test = _study._split(X, y, None, groups, 0, 0.3)
    assert not set(groups[train]) & set(groups[test])


def test_teachers_keep_the_package_defaults(data):
    X, y, _ = data
    X = X.astype(np.float32)
    params = {"max_epochs": 1, "hidden_layer_sizes": (8,), "device": "cpu"}
    teachers = fit_teachers(X, y, seed=0, teacher_params=params, recovery=True)
    assert teachers["subclass"].n_subclasses_ == 10  # the estimator's default
    assert teachers["conventional"].n_subclasses_ == 1
    assert teachers["paper"].subclass_head == "shared"
    assert teachers["paper, n_subclasses=5"].n_subclasses_ == 5
    assert teachers["embedding"].n_subclasses == 5  # EmbeddingSubclassTeacher's


def test_parallel_seeds_give_the_same_rows(data):
    X, y, hidden = data
    settings = {**FAST, "seeds": (0, 1)}
    one = paper_protocol_study(X, y, hidden, **settings)
    two = paper_protocol_study(X, y, hidden, n_jobs=2, **settings)
    for a, b in zip(one, two, strict=True):
        a.pop("seconds"), b.pop("seconds")
        assert a == b


def _rows():
    # Two seeds of one line: conventional 0.90/0.80, subclass 0.93/0.84.
    return [
        {"regime": "transfer", "fraction": 0.05, "n_labelled": 10,
         "conventional": c, "subclass": s, "labels only": 0.5}
        for c, s in ((0.90, 0.93), (0.80, 0.84))
    ]  # fmt: skip


def test_difference_table_pairs_each_seed():
    table = difference_table(_rows(), ["subclass"])
    # differences of 3 and 4 points: mean 3.5, standard error 0.707 / sqrt(2)
    assert table.splitlines()[0] == "| regime | labelled | subclass - conventional |"
    assert table.splitlines()[2] == "| transfer | 5% | +3.50 ± 0.50 |"
    one_seed = difference_table(_rows()[:1], ["subclass"])
    assert one_seed.splitlines()[2] == "| transfer | 5% | +3.00 |"


def test_summary_table_marks_the_best_student():
    table = summary_table(_rows(), columns=["conventional", "subclass"])
    assert table.splitlines()[2] == (
        "| transfer | 5% | 10 | 85.0 ± 5.0 | **88.5 ± 4.5** |"
    )
