import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sklearn_subdistill.datasets import (
    collapse_classes,
    load_digits_superclasses,
    make_clickthrough,
    make_subclass_classification,
)
from sklearn_subdistill.metrics import subclass_recovery_score

# make_subclass_classification


@pytest.mark.parametrize(
    "n_classes, n_subclasses, n_features", [(2, 5, 20), (3, 4, 7), (5, 1, 3)]
)
def test_subclass_classification_shapes_dtypes_and_labels(
    n_classes, n_subclasses, n_features
):
    X, y, y_subclass = make_subclass_classification(
        n_samples=103,
        n_features=n_features,
        n_classes=n_classes,
        n_subclasses=n_subclasses,
        random_state=0,
    )
    assert X.shape == (103, n_features)
    assert X.dtype == np.float64
    assert y.shape == y_subclass.shape == (103,)
    assert y.dtype == y_subclass.dtype == np.int64
    np.testing.assert_array_equal(np.unique(y), np.arange(n_classes))
    np.testing.assert_array_equal(
        np.unique(y_subclass), np.arange(n_classes * n_subclasses)
    )
    np.testing.assert_array_equal(y_subclass // n_subclasses, y)
    # Samples are spread as evenly as possible over the subclasses.
    counts = np.bincount(y_subclass)
    assert counts.max() - counts.min() <= 1


def test_subclass_classification_is_seeded():
    first = make_subclass_classification(n_samples=200, random_state=3)
    again = make_subclass_classification(n_samples=200, random_state=3)
    other = make_subclass_classification(n_samples=200, random_state=4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], other[0])


def test_subclass_classification_without_shuffle_is_ordered():
    _, y, y_subclass = make_subclass_classification(
        n_samples=50, shuffle=False, random_state=0
    )
    assert np.all(np.diff(y_subclass) >= 0)
    assert np.all(np.diff(y) >= 0)


def test_subclass_classification_clusters_have_requested_spread():
    X, _, y_subclass = make_subclass_classification(
        n_samples=4000,
        n_features=6,
        n_informative=4,
        cluster_std=0.5,
        class_sep=3.0,
        random_state=0,
    )
    within = np.concatenate(
        [X[y_subclass == k] - X[y_subclass == k].mean(axis=0) for k in range(10)]
    )
    np.testing.assert_allclose(within[:, :4].std(axis=0), 0.5, rtol=0.1)
    np.testing.assert_allclose(within[:, 4:].std(axis=0), 1.0, rtol=0.1)
    # Centres lie on the grid {-class_sep, +class_sep} ** n_informative.
    centres = np.array([X[y_subclass == k, :4].mean(axis=0) for k in range(10)])
    np.testing.assert_allclose(np.abs(centres), 3.0, atol=0.2)
    assert len(np.unique(np.sign(centres), axis=0)) == 10


def test_subclass_structure_matters():
    # The classes interleave: a linear model is far worse than a local one.
    X, y, y_subclass = make_subclass_classification(
        n_samples=1500, n_features=10, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    linear = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    local = KNeighborsClassifier().fit(X_train, y_train).score(X_test, y_test)
    assert linear < 0.75
    assert local > 0.85
    assert local - linear > 0.15
    # The subclasses themselves can be found without labels.
    clusters = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X)
    assert subclass_recovery_score(y_subclass, clusters) > 0.85


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_samples": 5}, "n_samples must be >= n_classes"),
        ({"n_classes": 1}, "n_classes must be >= 2"),
        ({"n_subclasses": 0}, "n_subclasses must be >= 1"),
        ({"n_features": 3}, "n_features=3 is too small"),
        ({"n_informative": 21}, "n_informative must be <= n_features"),
        ({"n_informative": 3}, "increase n_informative"),
        ({"class_sep": 0.0}, "class_sep must be"),
        ({"cluster_std": -1.0}, "cluster_std must be"),
        ({"n_samples": 10.5}, "n_samples must be an integer"),
        ({"n_classes": True}, "n_classes must be an integer"),
    ],
)
def test_subclass_classification_invalid_params(params, match):
    with pytest.raises(ValueError, match=match):
        make_subclass_classification(**params)


def test_subclass_classification_many_informative_features():
    # A grid too large to enumerate is sampled without enumerating it.
    X, y, y_subclass = make_subclass_classification(
        n_samples=100, n_features=40, n_informative=30, random_state=0
    )
    assert X.shape == (100, 40)
    np.testing.assert_array_equal(y_subclass // 5, y)


# make_clickthrough


def test_clickthrough_shapes_and_dtypes():
    X, y, segment = make_clickthrough(
        n_samples=500,
        n_segments=4,
        n_numeric=3,
        n_categorical=2,
        n_categories=4,
        random_state=0,
    )
    assert X.shape == (500, 3 + 2 * 4)
    assert X.dtype == np.float64
    assert y.dtype == segment.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert set(np.unique(segment)) <= set(range(4))
    # Each categorical feature is one-hot encoded in its own block of columns.
    one_hot = X[:, 3:].reshape(500, 2, 4)
    np.testing.assert_array_equal(one_hot.sum(axis=2), 1.0)
    assert set(np.unique(one_hot)) == {0.0, 1.0}


@pytest.mark.parametrize("positive_rate", [0.02, 0.05, 0.3])
def test_clickthrough_positive_rate(positive_rate):
    n_samples = 20000
    _, y, _ = make_clickthrough(
        n_samples=n_samples, positive_rate=positive_rate, random_state=0
    )
    tolerance = 4 * np.sqrt(positive_rate * (1 - positive_rate) / n_samples)
    assert abs(y.mean() - positive_rate) < tolerance


def test_clickthrough_segments_change_click_rate():
    _, y, segment = make_clickthrough(n_samples=20000, random_state=0)
    rates = np.array([y[segment == k].mean() for k in np.unique(segment)])
    assert rates.max() > 2 * rates.min()


def test_clickthrough_is_seeded():
    first = make_clickthrough(n_samples=300, random_state=5)
    again = make_clickthrough(n_samples=300, random_state=5)
    other = make_clickthrough(n_samples=300, random_state=6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], other[0])


def test_clickthrough_as_frame_matches_array():
    pd = pytest.importorskip("pandas")
    X, y, segment = make_clickthrough(
        n_samples=200, n_numeric=2, n_categorical=2, n_categories=3, random_state=0
    )
    frame, y_series, segment_series = make_clickthrough(
        n_samples=200,
        n_numeric=2,
        n_categorical=2,
        n_categories=3,
        random_state=0,
        as_frame=True,
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["num_0", "num_1", "cat_0", "cat_1"]
    assert frame["num_0"].dtype == np.float64
    assert isinstance(frame["cat_0"].dtype, pd.CategoricalDtype)
    assert list(frame["cat_0"].cat.categories) == [0, 1, 2]
    np.testing.assert_array_equal(frame[["num_0", "num_1"]].to_numpy(), X[:, :2])
    for j in range(2):
        block = X[:, 2 + 3 * j : 2 + 3 * (j + 1)]
        np.testing.assert_array_equal(
            frame[f"cat_{j}"].cat.codes.to_numpy(), block.argmax(axis=1)
        )
    assert y_series.name == "click"
    assert segment_series.name == "segment"
    np.testing.assert_array_equal(y_series.to_numpy(), y)
    np.testing.assert_array_equal(segment_series.to_numpy(), segment)


@pytest.mark.parametrize(
    "n_numeric, n_categorical, n_columns", [(0, 2, 10), (4, 0, 4), (1, 1, 6)]
)
def test_clickthrough_feature_kinds_can_be_omitted(n_numeric, n_categorical, n_columns):
    X, _, _ = make_clickthrough(
        n_samples=100, n_numeric=n_numeric, n_categorical=n_categorical, random_state=0
    )
    assert X.shape == (100, n_columns)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"positive_rate": 0.0}, "positive_rate must be in"),
        ({"positive_rate": 1.0}, "positive_rate must be in"),
        ({"positive_rate": "high"}, "positive_rate must be a real number"),
        ({"n_samples": 0}, "n_samples must be >= 1"),
        ({"n_segments": 0}, "n_segments must be >= 1"),
        ({"n_categories": 1}, "n_categories must be >= 2"),
        ({"n_numeric": -1}, "n_numeric must be >= 0"),
        ({"n_numeric": 0, "n_categorical": 0}, "must not both be 0"),
        ({"interactions": -1.0}, "interactions must be a finite number >= 0"),
        ({"interactions": np.inf}, "interactions must be a finite number >= 0"),
        ({"interactions": "many"}, "interactions must be a real number"),
    ],
)
def test_clickthrough_invalid_params(params, match):
    with pytest.raises(ValueError, match=match):
        make_clickthrough(**params)


def test_clickthrough_without_interactions_is_the_default_data():
    default = make_clickthrough(n_samples=500, random_state=0)
    same = make_clickthrough(n_samples=500, interactions=0.0, random_state=0)
    for got, expected in zip(same, default, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_clickthrough_interactions_change_the_clicks_not_the_users():
    X, y, segment = make_clickthrough(n_samples=3000, random_state=0)
    X4, y4, segment4 = make_clickthrough(
        n_samples=3000, interactions=4.0, random_state=0
    )
    np.testing.assert_array_equal(X4, X)
    np.testing.assert_array_equal(segment4, segment)
    assert abs(y4.mean() - 0.05) < 0.02  # the click rate is still solved for
    assert (y4 != y).mean() > 0.02

    # A linear model misses more of the clicks once they depend on products of
    # the numeric features.
    def auc_of_logistic(y_):
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y_, test_size=0.5, random_state=0, stratify=y_
        )
        model = LogisticRegression(max_iter=1000).fit(X_tr, y_tr)
        return roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])

    assert auc_of_logistic(y4) < auc_of_logistic(y) - 0.03


# collapse_classes and load_digits_superclasses


def test_collapse_classes_round_trip():
    rng = np.random.RandomState(0)
    y = rng.randint(10, size=100)
    groups = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    y_super, y_hidden = collapse_classes(y, groups)
    np.testing.assert_array_equal(y_hidden, y)
    np.testing.assert_array_equal(y_super, (y >= 5).astype(np.int64))
    assert y_super.dtype == np.int64
    # Every hidden label maps back into the group of its superclass.
    for label, superlabel in zip(y_hidden, y_super, strict=True):
        assert label in groups[superlabel]


def test_collapse_classes_returns_a_copy():
    y = np.array([0, 1, 2])
    _, y_hidden = collapse_classes(y, [[0, 1], [2]])
    y_hidden[0] = 99
    assert y[0] == 0


def test_collapse_classes_with_dict_and_string_labels():
    y = np.array(["cat", "car", "dog", "cat"])
    y_super, y_hidden = collapse_classes(
        y, {"animal": ("cat", "dog"), "vehicle": ["car", "bus"]}
    )
    np.testing.assert_array_equal(y_super, ["animal", "vehicle", "animal", "animal"])
    np.testing.assert_array_equal(y_hidden, y)


@pytest.mark.parametrize(
    "y, groups, match",
    [
        ([0, 1, 5], [[0, 1], [2, 3]], r"Labels \[5\] of y are in no group"),
        ([0, 1], [[0, 1], [1, 2]], "Label 1 is in two groups"),
        ([0, 1], {"a": [0], "b": [1, 0]}, "Label 0 is in two groups: 'a' and 'b'"),
        ([0, 1], [], "at least one group"),
        ([0, 1], [[0, 1], []], "Group 1 is empty"),
        ([0, 1], [0, 1], "must be a sequence of labels"),
        ([0, 1], "01", "groups must be a sequence of sequences"),
        ([[0, 1]], [[0, 1]], "y must be a 1-D"),
    ],
)
def test_collapse_classes_errors(y, groups, match):
    with pytest.raises(ValueError, match=match):
        collapse_classes(y, groups)


def test_load_digits_superclasses_default():
    X, y, y_digit = load_digits_superclasses()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float64
    assert X.min() == 0.0
    assert X.max() == 1.0
    np.testing.assert_array_equal(np.unique(y_digit), np.arange(10))
    np.testing.assert_array_equal(y, (y_digit >= 5).astype(np.int64))


@pytest.mark.parametrize(
    "n_superclasses, expected",
    [
        (3, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]),
        (5, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]),
        (10, list(range(10))),
    ],
)
def test_load_digits_superclasses_contiguous_groups(n_superclasses, expected):
    _, y, y_digit = load_digits_superclasses(n_superclasses=n_superclasses)
    np.testing.assert_array_equal(y, np.asarray(expected)[y_digit])


@pytest.mark.parametrize("n_superclasses", [1, 11, 2.0])
def test_load_digits_superclasses_invalid(n_superclasses):
    with pytest.raises(ValueError, match="n_superclasses"):
        load_digits_superclasses(n_superclasses=n_superclasses)
