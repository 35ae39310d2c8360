"""scikit-learn's estimator checks on every public estimator."""

from sklearn.neural_network import MLPClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_subdistill import (
    EmbeddingSubclassTeacher,
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)

# Small networks and enough epochs to pass the checks' accuracy thresholds on
# their tiny data sets, while keeping the whole run short on two CPU cores.
TEACHER_PARAMS = dict(
    n_subclasses=2,
    hidden_layer_sizes=(16,),
    max_epochs=40,
    lr=1e-2,
    batch_size=32,
    device="cpu",
    random_state=0,
)
STUDENT_PARAMS = dict(
    hidden_layer_sizes=(16,),
    max_epochs=40,
    lr=1e-2,
    batch_size=32,
    device="cpu",
    random_state=0,
)

ESTIMATORS = [
    SubclassTeacherClassifier(**TEACHER_PARAMS),
    SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(**TEACHER_PARAMS), **STUDENT_PARAMS
    ),
    EmbeddingSubclassTeacher(
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
        n_subclasses=2,
        random_state=0,
    ),
]


#: Weighted and repeated fits take the same steps, but the network trains in
#: float32: rows summed in another order differ in the last bits, ~1e-7 in the
#: probabilities after 40 epochs, and this check asks for rtol=1e-7.
#: tests/test_weights.py checks the equivalence at 1e-5 (as scikit-learn does
#: for its own SGD estimators, which xfail this check).
FLOAT32_WEIGHTS = (
    "float32 training: weighted and repeated fits agree to ~1e-7, not to the "
    "check's rtol=1e-7 (tested at 1e-5 in test_weights.py)"
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, SubclassTeacherClassifier):
        return {"check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS}
    if isinstance(estimator, SubclassDistilledStudent):
        # The student follows scikit-learn's semi-supervised convention: rows
        # labelled -1 are unlabelled transfer data. This check trains on the
        # binary labels [-1, 1], so half its rows carry no label and one class
        # is left; scikit-learn's own semi-supervised estimators are given
        # other labels by the check itself (_choose_check_classifiers_labels).
        return {
            "check_classifiers_classes": "-1 marks unlabelled rows (semi-supervised)",
            "check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS,
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
