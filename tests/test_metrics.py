import numpy as np
import pytest

from sklearn_subdistill.metrics import subclass_recovery_score


def test_perfect_recovery_scores_one():
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    score = subclass_recovery_score(y, y)
    assert score == 1.0
    assert type(score) is float


def test_hand_computed_example():
    # Contingency (rows cat, dog, fox; columns subclasses 0, 1, 2):
    # [[0, 0, 2], [1, 1, 0], [0, 2, 0]]; best matching cat->2, fox->1, dog->0
    # agrees on 2 + 2 + 1 = 5 of 6 samples.
    y_hidden = ["cat", "cat", "dog", "dog", "fox", "fox"]
    y_subclass = [2, 2, 0, 1, 1, 1]
    assert subclass_recovery_score(y_hidden, y_subclass) == pytest.approx(5 / 6)


def test_best_matching_beats_greedy_matching():
    # Contingency [[3, 2], [2, 0]]. Greedy on the largest cell would match
    # hidden 0 -> subclass 0 (3 samples) and leave hidden 1 with subclass 1
    # (0 samples): 3 / 7. The optimal matching 0 -> 1, 1 -> 0 agrees on
    # 2 + 2 = 4 of 7.
    y_hidden = [0, 0, 0, 0, 0, 1, 1]
    y_subclass = [0, 0, 0, 1, 1, 0, 0]
    assert subclass_recovery_score(y_hidden, y_subclass) == pytest.approx(4 / 7)


def test_invariant_to_relabelling_subclasses():
    rng = np.random.RandomState(0)
    y_hidden = rng.randint(4, size=300)
    y_subclass = np.where(
        rng.uniform(size=300) < 0.7, y_hidden, rng.randint(6, size=300)
    )
    score = subclass_recovery_score(y_hidden, y_subclass)
    for _ in range(5):
        relabel = rng.permutation(6)
        assert subclass_recovery_score(y_hidden, relabel[y_subclass]) == score
    # Non-integer subclass names are only names too.
    names = np.array(list("abcdef"))
    assert subclass_recovery_score(y_hidden, names[y_subclass]) == score


def test_invariant_to_relabelling_hidden_classes():
    rng = np.random.RandomState(1)
    y_hidden = rng.randint(3, size=200)
    y_subclass = (y_hidden + (rng.uniform(size=200) < 0.2)) % 3
    score = subclass_recovery_score(y_hidden, y_subclass)
    assert subclass_recovery_score(rng.permutation(3)[y_hidden], y_subclass) == score


def test_random_assignment_is_close_to_chance():
    rng = np.random.RandomState(0)
    n_samples, k = 20000, 5
    y_hidden = rng.randint(k, size=n_samples)
    y_subclass = rng.randint(k, size=n_samples)
    score = subclass_recovery_score(y_hidden, y_subclass)
    # The best of k! matchings is slightly above 1 / k, by O(1 / sqrt(n)).
    assert 1 / k <= score < 1 / k + 0.015


def test_more_subclasses_than_hidden_classes():
    # Each hidden class split in two halves: only one half can be matched.
    y_hidden = np.repeat([0, 1], 4)
    y_subclass = np.repeat([0, 1, 2, 3], 2)
    assert subclass_recovery_score(y_hidden, y_subclass) == 0.5


def test_fewer_subclasses_than_hidden_classes():
    # Hidden classes 2 and 3 have no subclass of their own: their samples are
    # errors whatever they are assigned to.
    y_hidden = np.array([0, 0, 1, 1, 2, 3])
    y_subclass = np.array([5, 5, 7, 7, 5, 7])
    assert subclass_recovery_score(y_hidden, y_subclass) == pytest.approx(4 / 6)


def test_single_class_each():
    assert subclass_recovery_score([3, 3, 3], [0, 0, 0]) == 1.0


def test_accepts_lists_tuples_and_string_labels():
    assert subclass_recovery_score(("a", "b", "b"), [1, 0, 0]) == 1.0


@pytest.mark.parametrize(
    "y_hidden, y_subclass, match",
    [
        ([0, 1, 1], [0, 1], "same length"),
        ([], [], "y_hidden must not be empty"),
        ([[0, 1], [1, 0]], [0, 1], "y_hidden must be a 1-D"),
        ([0, 1], [[0], [1]], "y_subclass must be a 1-D"),
        (0, [0], "y_hidden must be a 1-D"),
    ],
)
def test_invalid_input_raises(y_hidden, y_subclass, match):
    with pytest.raises(ValueError, match=match):
        subclass_recovery_score(y_hidden, y_subclass)


def test_many_to_one_does_not_penalise_split_hidden_classes():
    # The halves of test_more_subclasses_than_hidden_classes are all right.
    y_hidden = np.repeat([0, 1], 4)
    y_subclass = np.repeat([0, 1, 2, 3], 2)
    assert subclass_recovery_score(y_hidden, y_subclass, matching="many-to-one") == 1


def test_many_to_one_is_the_purity_of_the_subclasses():
    # Subclass 5 holds hidden 0, 0, 2 (2 right), subclass 7 holds 1, 1, 3
    # (2 right): both may stand for any hidden class, unlike one-to-one.
    y_hidden = np.array([0, 0, 1, 1, 2, 3])
    y_subclass = np.array([5, 5, 7, 7, 5, 7])
    score = subclass_recovery_score(y_hidden, y_subclass, matching="many-to-one")
    assert score == pytest.approx(4 / 6)
    # Two subclasses sharing one hidden class: one-to-one matches one of them.
    y_hidden = np.array([0, 0, 0, 0, 1, 1])
    y_subclass = np.array([0, 0, 1, 1, 2, 2])
    assert subclass_recovery_score(y_hidden, y_subclass) == pytest.approx(4 / 6)
    assert subclass_recovery_score(y_hidden, y_subclass, matching="many-to-one") == 1


def test_many_to_one_is_at_least_one_to_one():
    rng = np.random.RandomState(0)
    for n_subclasses in (2, 5, 10, 20):
        y_hidden = rng.randint(5, size=300)
        y_subclass = rng.randint(n_subclasses, size=300)
        one = subclass_recovery_score(y_hidden, y_subclass)
        many = subclass_recovery_score(y_hidden, y_subclass, matching="many-to-one")
        # one-to-one is one of the matchings that many-to-one maximises over
        assert many >= one


def test_unknown_matching_raises():
    with pytest.raises(ValueError, match="matching must be 'one-to-one' or"):
        subclass_recovery_score([0, 1], [0, 1], matching="greedy")
