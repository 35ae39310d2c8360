"""projections: the linear algebra of embedding subclasses, by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp

from sklearn_subdistill.projections import (
    class_directions,
    output_null_space,
    projection_logits,
    random_rotation,
    subclass_log_proba,
)


def test_output_null_space_is_orthonormal_and_ignored_by_the_output():
    weights = np.array([[1.0, 1.0, 0.0]])
    basis = output_null_space(weights, 3)
    assert basis.shape == (3, 2)
    assert_allclose(basis.T @ basis, np.eye(2), atol=1e-12)
    assert_allclose(weights @ basis, 0.0, atol=1e-12)
    # Together with the weights' direction it spans the whole space.
    full = np.column_stack([basis, weights.T / np.sqrt(2)])
    assert_allclose(full.T @ full, np.eye(3), atol=1e-12)
    assert_allclose(output_null_space(None, 4), np.eye(4))


def test_output_null_space_rejects_weights_of_another_width():
    with pytest.raises(ValueError, match=r"\(n_outputs, 3\)"):
        output_null_space(np.ones((2, 4)), 3)


def test_random_rotation_is_orthogonal_and_seeded():
    rotation = random_rotation(4, random_state=0)
    assert_allclose(rotation @ rotation.T, np.eye(4), atol=1e-12)
    assert_allclose(random_rotation(4, random_state=0), rotation)
    assert not np.allclose(random_rotation(4, random_state=1), rotation)
    assert_allclose(random_rotation(1, random_state=0), [[1.0]])


def test_class_directions_hand_computed():
    # Variances 4, 1 and 9 along the axes; the output layer reads the third
    # axis, so the two directions left are the first two axes, in that order.
    covariance = np.diag([4.0, 1.0, 9.0])
    basis = output_null_space(np.array([[0.0, 0.0, 2.0]]), 3)
    directions, scale = class_directions(covariance, 2, basis=basis)
    assert_allclose(directions, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-12)
    assert scale == pytest.approx(np.sqrt((4.0 + 1.0) / 2))
    # Without the output weights removed the third axis would come first.
    top, _ = class_directions(covariance, 1, basis=np.eye(3))
    assert_allclose(top, [[0.0, 0.0, 1.0]], atol=1e-12)


def test_class_directions_rotated_stay_orthonormal_and_orthogonal_to_output():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 6)) * [5.0, 4.0, 3.0, 2.0, 1.0, 0.5]
    covariance = np.cov(embeddings, rowvar=False)
    weights = rng.normal(size=(2, 6))
    basis = output_null_space(weights, 6)
    rotation = random_rotation(3, random_state=0)
    plain, scale = class_directions(covariance, 3, basis=basis)
    rotated, rotated_scale = class_directions(
        covariance, 3, basis=basis, rotation=rotation
    )
    assert_allclose(rotated, rotation @ plain)
    assert_allclose(rotated @ rotated.T, np.eye(3), atol=1e-12)
    assert_allclose(rotated @ weights.T, 0.0, atol=1e-12)
    # The rotation mixes the directions but keeps their mean variance.
    assert rotated_scale == scale
    variances = np.einsum("kd,de,ke->k", rotated, covariance, rotated)
    assert np.mean(variances) == pytest.approx(scale**2)


def test_class_directions_constant_embeddings_get_unit_scale():
    _, scale = class_directions(np.zeros((3, 3)), 2, basis=np.eye(3))
    assert scale == 1.0


def test_class_directions_needs_enough_dimensions():
    basis = output_null_space(np.ones((1, 3)), 3)  # 2 dimensions left
    with pytest.raises(ValueError, match=r"n_subclasses=3.*only 2"):
        class_directions(np.eye(3), 3, basis=basis)


def test_projection_logits_hand_computed():
    embeddings = np.array([[3.0, 1.0, 5.0]])
    means = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    directions = np.array(
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]
    )
    scales = np.array([2.0, 1.0])
    # class 0: (3-1)/2, (1-0)/2; class 1: (5-1)/1, (1-0)/1
    assert_allclose(
        projection_logits(embeddings, means, directions, scales), [[1.0, 0.5, 4.0, 1.0]]
    )


def test_subclass_log_proba_hand_computed():
    class_log_proba = np.log([[0.25, 0.75]])
    projections = np.array([[0.0, np.log(3.0), 0.0, 0.0]])
    expected = np.log([[1 / 16, 3 / 16, 3 / 8, 3 / 8]])
    assert_allclose(subclass_log_proba(class_log_proba, projections), expected)
    # Temperature 2 on doubled projections gives the same split.
    assert_allclose(subclass_log_proba(class_log_proba, 2 * projections, 2.0), expected)


def test_subclass_log_proba_sums_to_the_class_log_proba():
    rng = np.random.default_rng(0)
    class_log_proba = np.log(rng.dirichlet(np.ones(3), size=20))
    log_proba = subclass_log_proba(class_log_proba, rng.normal(size=(20, 12)), 0.5)
    blocks = log_proba.reshape(20, 3, 4)  # (n, C*k) -> (n, C, k)
    assert_allclose(logsumexp(blocks, axis=2), class_log_proba)
