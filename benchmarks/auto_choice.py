"""What ``subclass_weight="auto"`` sees, against what the test rows say.

On the paper-protocol split (``benchmarks/paper_protocol.py``: 70/30,
features standardised, the teacher early-stopped and fitted on *all*
training rows), for each seed and labelled fraction, each candidate of
``"auto"`` (``sklearn_subdistill._selection.AUTO_CANDIDATES``) is scored as
``"auto"`` scores it, by 4-fold cross-validation on the labelled rows
(temperature-scaled log-loss of the pooled out-of-fold probabilities), twice:
its fold students distilling the teacher (which was fitted on the held-out
rows too), and distilling *fold teachers*, clones of the teacher fitted on
each fold's other labelled rows alone. Each candidate fitted on all labelled
rows is then scored on the test rows. Three rules are compared by what they
cost against conventional distillation on the test rows: the first scores
alone (``"auto"`` before 0.1.0's fold teachers), the second alone, and both
(``"auto"`` now: a split is kept only where both keep it).

Two data sets outside the study, credit-card default and COMPAS (same wheel
as Heritage Health), check the rule on data it was not chosen on.

The embedding split of the teacher's class network (``EmbeddingSubclassTeacher``
of its 1-subclass twin), which ``"auto"`` does not offer, is scored the same
way, to measure it as a candidate: alone beside conventional distillation,
and beside the other two.

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/auto_choice.py --n-jobs 2
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/auto_choice.py --quick

The runs are saved in ``results/auto_choice.json``; ``--from-json`` with
that file (and the run's ``--n-jobs``, to count its time) re-renders them.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    Timer,
    header,
    package_defaults,
    pin_threads,
    write_results,
)

pin_threads(1)

import _data  # noqa: E402
import numpy as np  # noqa: E402
from _study import _split, epochs_for_steps, score  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from paper_protocol import DATASETS, load  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_subdistill import (  # noqa: E402
    EmbeddingSubclassTeacher,
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill._selection import (  # noqa: E402
    AUTO_CANDIDATES,
    _fold_teachers,
    _folds,
    _scores,
    _sums_to_predict_proba,
    choose,
)

#: Real data sets outside the study (``_data.py``), to check the rule on:
#: ``(loader, metric, fractions, maximum rows)`` as in ``DATASETS``.
HELD_OUT = {
    "credit-card default (ROC AUC)": (
        _data.load_credit_card,
        "roc_auc",
        (0.05, 0.2),
        None,
    ),
    "COMPAS (ROC AUC)": (_data.load_compas, "roc_auc", (0.05, 0.2), None),
}
#: The candidates of ``"auto"`` and the embedding split, which ``"auto"``
#: does not offer: the 1-subclass twin's classes split by projections of its
#: embeddings (``EmbeddingSubclassTeacher``), at the split candidates' loss.
SPLITS = list(AUTO_CANDIDATES)
EMBEDDING = ["conventional", "embedding"]
EVERY = [*SPLITS, "embedding"]


def _pick(run, scoring, names):
    """The scores of ``names`` in ``run[scoring]``."""
    return {k: v for k, v in run[scoring].items() if k in names}


def _among(names, fresh="fresh"):
    """A rule: :func:`choose` among ``names``, with the teacher's scores and
    the scores in ``run[fresh]``."""
    return lambda run: choose(_pick(run, "seen", names), _pick(run, fresh, names))


def _checked(run, names):
    """The teacher's scores' choice among ``names``, kept only where the fold
    teachers' scores of that same candidate beat conventional distillation's
    by the margin too (``"auto"`` asks it of their best split)."""
    chosen = choose(_pick(run, "seen", names))
    if chosen == "conventional":
        return chosen
    return choose(_pick(run, "fresh", ["conventional", chosen]))


#: The rules compared: a name, and the candidate it chooses for a run.
RULES = {
    "teacher's scores alone (before)": lambda run: choose(_pick(run, "seen", SPLITS)),
    "fold teachers' alone": lambda run: choose(_pick(run, "fresh", SPLITS)),
    "both (auto)": _among(SPLITS),
    "both, on the chosen split": lambda run: _checked(run, SPLITS),
    "embedding split, both": _among(EMBEDDING),
    "embedding split, both, twin kept": _among(EMBEDDING, fresh="kept"),
    "four candidates, both": _among(EVERY),
}
#: Candidates taken every time, for reference.
ALWAYS = {"split always": "subclasses", "embedding split always": "embedding"}


def paper_split(name, seed):
    """``(X_train, y_train, X_test, y_test, metric, hidden_test)``: one seed's
    70/30 split of ``name`` as in the paper-protocol study, features
    standardised on the training rows; ``hidden_test`` the hidden classes of
    the test rows, or ``None``."""
    X, y, hidden, groups, metric, _ = load(name, datasets={**DATASETS, **HELD_OUT})
    train, test = _split(X, y, hidden, groups, seed, 0.3)
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train]).astype(np.float32)
    X_test = scaler.transform(X[test]).astype(np.float32)
    hidden_test = None if hidden is None else hidden[test]
    return X_train, y[train], X_test, y[test], metric, hidden_test


def labelled_rows(y_train, fraction, seed):
    """The indices of the labelled ``fraction`` of the training rows."""
    labelled, _ = train_test_split(
        np.arange(len(y_train)), train_size=fraction, random_state=seed,
        stratify=y_train,
    )  # fmt: skip
    return labelled


def small_student(teacher, n_labelled, seed, student_steps=500, hidden=(32,)):
    """An unfitted ``MLP(*hidden)`` student that distils ``teacher`` (frozen)
    in about ``student_steps`` optimiser steps on ``n_labelled`` rows."""
    return SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), hidden_layer_sizes=hidden, device="cpu",
        random_state=seed,
        max_epochs=epochs_for_steps(n_labelled, 256, student_steps),
    )  # fmt: skip


def low_data_run(name, seed, fraction, student_steps=500):
    """One seed of the paper-protocol split of ``name``: ``(X_train, y_train,
    X_test, y_test, labelled, metric, teacher, student)``, features
    standardised on the training rows, ``labelled`` the indices of the
    labelled fraction of them, the default teacher (early-stopped) fitted on
    all of them, and an unfitted ``MLP(32)`` student that distils it."""
    X_train, y_train, X_test, y_test, metric, _ = paper_split(name, seed)
    labelled = labelled_rows(y_train, fraction, seed)
    teacher = SubclassTeacherClassifier(
        device="cpu", random_state=seed, early_stopping=True
    ).fit(X_train, y_train)
    student = small_student(teacher, len(labelled), seed, student_steps)
    return X_train, y_train, X_test, y_test, labelled, metric, teacher, student


def candidate_scores(student, X_lab, y_lab, X_test, y_test, metric, seed):
    """Each candidate of ``"auto"`` scored as ``"auto"`` scores it on the
    labelled rows ``(X_lab, y_lab)``, with ``student``'s teacher (``seen``)
    and with fold teachers (``fresh``), and fitted on all of them, on the
    test rows (``test``); and the folds' ``rows``."""
    teacher = student.teacher.estimator
    rows = X_lab, y_lab, None, list(_folds(y_lab, seed)), teacher.classes_
    names = list(AUTO_CANDIDATES)
    if _sums_to_predict_proba(teacher, X_lab[:256]):
        names.remove("predict_proba")
    seen = _scores(student, rows, [teacher] * len(rows[3]), names)
    fresh = _scores(student, rows, _fold_teachers(student, teacher, rows), names)
    test_scores = {}
    for candidate in names:
        weight, temperature, class_mass = AUTO_CANDIDATES[candidate]
        model = clone(student).set_params(
            subclass_weight=weight,
            temperature=temperature or student.temperature,
            class_mass=class_mass or student.class_mass,
        )
        model.fit(X_lab, y_lab)
        test_scores[candidate] = score(y_test, model.predict_proba(X_test), metric)
    return rows, seen, fresh, test_scores


def fraction_run(name, seed, split, teacher, fraction, student_steps=500,
                 hidden=(32,)):  # fmt: skip
    """One labelled ``fraction`` of ``split`` (:func:`paper_split`): the
    candidates' scores (:func:`candidate_scores`) of an ``MLP(*hidden)``
    student of the fitted ``teacher``, and that student on its labels alone
    (``test["labels only"]``), as a run of ``name`` and ``seed``."""
    start = time.perf_counter()
    X_train, y_train, X_test, y_test, metric, _ = split
    labelled = labelled_rows(y_train, fraction, seed)
    X_lab, y_lab = X_train[labelled], y_train[labelled]
    student = small_student(teacher, len(labelled), seed, student_steps, hidden)
    _, seen, fresh, test = candidate_scores(
        student, X_lab, y_lab, X_test, y_test, metric, seed
    )
    alone = student.set_params(alpha=0.0, subclass_weight=0.0).fit(X_lab, y_lab)
    test["labels only"] = score(y_test, alone.predict_proba(X_test), metric)
    return {"data": name, "seed": seed, "fraction": fraction, "seen": seen,
            "fresh": fresh, "test": test,
            "seconds": time.perf_counter() - start}  # fmt: skip


def save_runs(stem, runs, quick):
    """Write ``runs`` to ``results/<stem>.json`` (``<stem>_quick.json`` for a
    smoke run)."""
    name = f"{stem}_quick" if quick else stem
    (RESULTS / f"{name}.json").write_text(json.dumps(runs, indent=1))


def one_run(name, seed, fraction, student_steps=500):
    """Each candidate's cross-validated scores, with the teacher and with fold
    teachers, and its test score; one seed."""
    start = time.perf_counter()
    X_train, y_train, X_test, y_test, labelled, metric, _, student = low_data_run(
        name, seed, fraction, student_steps
    )
    X_lab, y_lab = X_train[labelled], y_train[labelled]
    # What select_subclass_weight does, with both scorings always made.
    rows, seen, fresh, test_scores = candidate_scores(
        student, X_lab, y_lab, X_test, y_test, metric, seed
    )
    # The embedding split of the twin (the default teacher's class network):
    # the teacher's scores, fold twins' (fitted on the fold's other rows),
    # and the fold teachers "auto" builds for this frozen teacher today (its
    # directions refitted on those rows, the twin inside it kept as it is).
    twin = SubclassTeacherClassifier(
        n_subclasses=1, device="cpu", random_state=seed, early_stopping=True
    )  # fmt: skip
    embedding = EmbeddingSubclassTeacher(
        FrozenEstimator(clone(twin).fit(X_train, y_train)), random_state=seed
    ).fit(X_train, y_train)
    split = clone(student).set_params(teacher=FrozenEstimator(embedding))
    fold_twins = [
        EmbeddingSubclassTeacher(clone(twin), random_state=seed).fit(
            X_lab[fit_rows], y_lab[fit_rows]
        )
        for fit_rows, _ in rows[3]
    ]
    for scores, teachers in (
        (seen, [embedding] * len(rows[3])),
        (fresh, fold_twins),
    ):
        scores["embedding"] = _scores(split, rows, teachers, ["subclasses"])[
            "subclasses"
        ]
    # Both candidates as "auto" scores them with its own fold teachers.
    kept = _scores(
        split, rows, _fold_teachers(split, embedding, rows),
        ["conventional", "subclasses"],
    )  # fmt: skip
    kept["embedding"] = kept.pop("subclasses")
    weight, temperature, _ = AUTO_CANDIDATES["subclasses"]
    model = clone(split).set_params(subclass_weight=weight, temperature=temperature)
    test_scores["embedding"] = score(
        y_test, model.fit(X_lab, y_lab).predict_proba(X_test), metric
    )
    return {"data": name, "seed": seed, "fraction": fraction, "seen": seen,
            "fresh": fresh, "kept": kept, "test": test_scores,
            "seconds": time.perf_counter() - start}  # fmt: skip


def table(runs):
    """One line per run: each candidate's CV log-loss with the teacher and
    with fold teachers (for the embedding split, also with its twin kept),
    and its test score (%); what each rule chose."""
    head = ["data", "labelled", "seed"]
    for candidate in SPLITS:
        head += [f"{candidate}: CV, teacher", "CV, fold teachers", "test"]
    head += ["embedding: CV, teacher", "CV, fold twins", "CV, twin kept", "test"]
    head += ["conventional: CV, twin kept"]
    head += ["chosen by " + rule for rule in RULES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [run["data"], f"{run['fraction']:.0%}", str(run["seed"])]
        for candidate in SPLITS:
            if candidate not in run["test"]:
                cells += ["-"] * 3
                continue
            cells += [f"{run['seen'][candidate]:.4f}", f"{run['fresh'][candidate]:.4f}",
                      f"{100 * run['test'][candidate]:.2f}"]  # fmt: skip
        cells += [f"{run[key]['embedding']:.4f}" for key in ("seen", "fresh", "kept")]
        cells += [f"{100 * run['test']['embedding']:.2f}"]
        cells += [f"{run['kept']['conventional']:.4f}"]
        cells += [rule(run) for rule in RULES.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gains(runs, rules=RULES, always=ALWAYS):
    """Per data set and fraction, each rule's test score minus conventional
    distillation's, mean ± standard error over seeds (points), and how often
    it kept a split; then each candidate of ``always`` taken every time."""
    head = (
        ["data", "labelled", "runs"]
        + [f"{rule}: gain over conventional (split kept)" for rule in rules]
        + [f"{name}: gain over conventional" for name in always]
    )
    rules = {**rules, **{name: lambda run, c=c: c for name, c in always.items()}}
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|---:|---:" + "|---:" * len(rules) + "|",
    ]
    keys = list(dict.fromkeys((r["data"], r["fraction"]) for r in runs))
    for name, fraction in keys:
        group = [r for r in runs if r["data"] == name and r["fraction"] == fraction]
        cells = [name, f"{fraction:.0%}", str(len(group))]
        for label, rule in rules.items():
            chosen = [rule(r) for r in group]
            diff = 100 * np.array([
                r["test"][c] - r["test"]["conventional"]
                for r, c in zip(group, chosen, strict=True)
            ])  # fmt: skip
            kept = sum(c != "conventional" for c in chosen)
            cell = paired(diff)
            cells.append(cell if label in always else f"{cell} ({kept})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_run_arguments(parser):
    """The data sets, seeds, processes and smoke run of a script that runs
    :func:`low_data_run` per seed and fraction."""
    every = [*DATASETS, *HELD_OUT]
    parser.add_argument(
        "--data", nargs="*", choices=every, default=every,
        help="data sets (default: all, the study's and the held-out ones)",
    )  # fmt: skip
    add_seed_arguments(parser)


def add_seed_arguments(parser):
    """The seeds, processes and smoke run of a benchmark script."""
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run")


def run_all(one_run, args):
    """``one_run(name, seed, fraction, student_steps=...)`` for every data
    set, labelled fraction and seed ``args`` (:func:`add_run_arguments`)
    asks for, in parallel processes."""
    fractions = {name: spec[2] for name, spec in {**DATASETS, **HELD_OUT}.items()}
    jobs = [
        (name, seed, fraction)
        for name in args.data
        for fraction in fractions[name][: 1 if args.quick else None]
        for seed in range(1 if args.quick else args.seeds)
    ]
    return Parallel(n_jobs=args.n_jobs)(
        delayed(one_run)(*job, student_steps=student_steps(args)) for job in jobs
    )


def run_seeds(one_seed, names, args):
    """``one_seed(name, seed, student_steps=..., quick=...)``, which fits one
    teacher and returns a list of runs, for every data set of ``names`` and
    seed ``args`` (:func:`add_seed_arguments`) asks for, in parallel
    processes; all their runs, in order."""
    seeds = range(1 if args.quick else args.seeds)
    done = Parallel(n_jobs=args.n_jobs)(
        delayed(one_seed)(
            name, seed, student_steps=student_steps(args), quick=args.quick
        )
        for name in names
        for seed in seeds
    )
    return [run for seed_runs in done for run in seed_runs]


def student_steps(args):
    """About how many optimiser steps each student takes: few in a smoke run."""
    return 20 if args.quick else 500


def paired(diff):
    """``mean ± standard error`` of paired differences (points)."""
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return f"{diff.mean():+.2f} ± {se:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--from-json", type=Path, help="re-render the tables of a saved run"
    )
    args = parser.parse_args(argv)
    timer = Timer()
    if args.from_json:  # the saved run's own time: each run's, once
        runs = json.loads(args.from_json.read_text())
        seconds = sum(run["seconds"] for run in runs) / (args.n_jobs or 1)
    else:
        runs = run_all(one_run, args)
        save_runs("auto_choice", runs, args.quick)
        seconds = timer()
    description = """
What `subclass_weight="auto"` sees against what the test rows say, on the
split of the paper-protocol study: the default teacher (`early_stopping=True`)
fitted on all training rows (so on the labelled rows `"auto"` scores on, not
on the test rows), `MLP(32)` students with about 500 Adam steps on the
labelled fraction alone. `CV, teacher`: the temperature-scaled log-loss of
a candidate's pooled out-of-fold probabilities over 4 folds of the labelled
rows, its fold students distilling the teacher; `CV, fold teachers`: the
same, distilling a clone of the teacher fitted on the fold's other labelled
rows alone (so new to the held-out fold); `test`: the candidate fitted on
all labelled rows, on the test rows (ROC AUC for tables, accuracy for
images, %). A rule keeps a split only where its log-loss is 2% below
conventional's: with the teacher's scores alone (`"auto"` before fold
teachers), with the fold teachers' alone, or with both (`"auto"` now: the
teacher's best split, where the fold teachers' best split is 2% below too);
`both, on the chosen split` asks it of the same split in both.
Credit-card default and COMPAS are outside the study: no setting of the
package was chosen on them.

`embedding`, not a candidate of `"auto"`: the classes of the default
teacher's class network (its 1-subclass twin, fitted alone here) split by
`EmbeddingSubclassTeacher` (its default 5 pseudo-subclasses per class) and
distilled with the split candidates' loss (`subclass_weight=1`,
`temperature=4`); `CV, fold twins`: with twins fitted on each fold's other
rows alone, embedded; `CV, twin kept`: with the fold teachers `"auto"`
builds for a frozen `EmbeddingSubclassTeacher(FrozenEstimator(twin))`, its
directions refitted on the fold's other rows, the twin inside it (fitted on
all training rows) kept, and `conventional: CV, twin kept` conventional
distillation's score with the same fold teachers (what `"auto"` compares
for such a teacher). Rules over it: the embedding split as `"auto"`'s
only split candidate, with either fold teachers, and all four candidates.
"""
    parts = [
        header("What auto sees", description, seconds, settings=package_defaults()),
        "## Each rule against conventional distillation, on the test rows",
        "",
        gains(runs),
        "",
        "## Every run",
        "",
        table(runs),
    ]
    write_results("auto_choice", "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
