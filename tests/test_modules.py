"""The torch networks and training criteria of ``sklearn_subdistill.modules``."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_subdistill.losses import (
    class_logits,
    distillation_loss,
    subclass_auxiliary_loss,
    subclass_distillation_loss,
    subclass_information_loss,
    within_class_auxiliary_loss,
)
from sklearn_subdistill.modules import (
    MLP,
    SubclassDistillationLoss,
    SubclassHeadNetwork,
    SubclassTeacherLoss,
)

# Tiny tensors: one intra-op thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randn(seed, *shape):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * 2.0


def _labels(seed, n, n_classes):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_classes, (n,), generator=gen)


# --------------------------------------------------------------------------
# MLP
# --------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [(), (8,), (16, 4), (5, 5, 5)])
@pytest.mark.parametrize(("n_features", "n_outputs"), [(4, 6), (1, 1), (10, 3)])
def test_mlp_output_shape(hidden, n_features, n_outputs):
    torch.manual_seed(0)
    net = MLP(n_features, n_outputs, hidden_layer_sizes=hidden)
    out = net(torch.randn(7, n_features))
    assert out.shape == (7, n_outputs)
    assert torch.isfinite(out).all()


def test_mlp_default_hidden_layers():
    net = MLP(3, 2)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (3, 256),
        (256, 256),
        (256, 2),
    ]


def test_mlp_layer_structure_without_dropout():
    net = MLP(4, 6, hidden_layer_sizes=(8, 5), dropout=0.0)
    layers = list(net.layers)
    assert [type(m) for m in layers] == [
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert [(m.in_features, m.out_features) for m in layers[::2]] == [
        (4, 8),
        (8, 5),
        (5, 6),
    ]
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())


def test_mlp_layer_structure_with_dropout():
    net = MLP(4, 6, hidden_layer_sizes=(8, 5), dropout=0.3)
    layers = list(net.layers)
    assert [type(m) for m in layers] == [
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert [m.p for m in layers if isinstance(m, nn.Dropout)] == [0.3, 0.3]


def test_mlp_without_hidden_layers_is_one_linear():
    net = MLP(5, 3, hidden_layer_sizes=(), dropout=0.5)
    modules = list(net.layers)
    assert len(modules) == 1
    (linear,) = modules
    assert isinstance(linear, nn.Linear)
    assert (linear.in_features, linear.out_features) == (5, 3)
    X = torch.randn(4, 5)
    torch.testing.assert_close(net(X), X @ linear.weight.T + linear.bias)


def test_mlp_forward_equals_manual_computation():
    torch.manual_seed(0)
    net = MLP(3, 2, hidden_layer_sizes=(4,))
    lin1, _, lin2 = net.layers
    X = torch.randn(6, 3)
    expected = torch.relu(X @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias
    torch.testing.assert_close(net(X), expected)


def test_mlp_dropout_is_active_in_training_and_off_in_eval():
    torch.manual_seed(0)
    net = MLP(6, 3, hidden_layer_sizes=(64,), dropout=0.5)
    plain = MLP(6, 3, hidden_layer_sizes=(64,), dropout=0.0)
    plain.load_state_dict(
        {k.replace("layers.3", "layers.2"): v for k, v in net.state_dict().items()}
    )
    X = torch.randn(32, 6)
    net.train()
    assert not torch.allclose(net(X), net(X))
    net.eval()
    torch.testing.assert_close(net(X), plain(X))


# --------------------------------------------------------------------------
# SubclassTeacherLoss
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_classes", "n_subclasses", "aux_weight", "aux_temperature"),
    [(2, 3, 1.0, 1.0), (3, 2, 0.5, 0.25), (2, 5, 2.0, 4.0), (1, 4, 1.0, 0.5)],
)
def test_teacher_loss_is_ce_plus_weighted_aux(
    n_classes, n_subclasses, aux_weight, aux_temperature
):
    z = _randn(0, 9, n_classes * n_subclasses)
    y = _labels(1, 9, n_classes)
    crit = SubclassTeacherLoss(n_classes, aux_weight, aux_temperature)
    ce = F.cross_entropy(class_logits(z, n_classes), y)
    aux = subclass_auxiliary_loss(z, aux_temperature)
    assert abs(float(aux)) > 1e-3  # the aux term matters in this check
    loss = crit(z, y)
    assert loss.shape == ()
    assert float(loss) == pytest.approx(float(ce + aux_weight * aux), rel=1e-12)


def test_teacher_loss_hand_value():
    # C = 2, s = 2; rows are probabilities in log space, so the class
    # probabilities are the block sums: (0.3, 0.7) and (0.6, 0.4).
    probs = torch.tensor(
        [[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.2, 0.2]], dtype=torch.float64
    )
    z = probs.log()
    y = torch.tensor([1, 0])
    ce = -(math.log(0.7) + math.log(0.6)) / 2
    loss = SubclassTeacherLoss(2, aux_weight=0.0)(z, y)
    assert float(loss) == pytest.approx(ce, rel=1e-12)


def test_teacher_loss_with_zero_aux_weight_is_plain_ce():
    z = _randn(2, 8, 6)
    y = _labels(3, 8, 3)
    loss = SubclassTeacherLoss(3, aux_weight=0.0)(z, y)
    expected = F.cross_entropy(class_logits(z, 3), y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    # The aux term would change the value, so the check above is not vacuous.
    assert float(SubclassTeacherLoss(3, aux_weight=1.0)(z, y)) != pytest.approx(
        float(expected), rel=1e-6
    )


def test_teacher_loss_gradient_matches_functional_gradient():
    z = _randn(4, 6, 6).requires_grad_()
    y = _labels(5, 6, 2)
    (g1,) = torch.autograd.grad(SubclassTeacherLoss(2, 0.7, 0.5)(z, y), z)
    (g2,) = torch.autograd.grad(
        F.cross_entropy(class_logits(z, 2), y) + 0.7 * subclass_auxiliary_loss(z, 0.5),
        z,
    )
    torch.testing.assert_close(g1, g2)


# --------------------------------------------------------------------------
# SubclassDistillationLoss
# --------------------------------------------------------------------------
def _hand_student_loss(logits, labels, teacher, n_classes, alpha, temperature):
    """mean_i(alpha * kd_i + (1 - alpha) * [labelled_i] * ce_i), row by row."""
    total = 0.0
    n = logits.shape[0]
    for i in range(n):
        p = torch.softmax(teacher[i] / temperature, dim=0)
        log_q = torch.log_softmax(logits[i] / temperature, dim=0)
        kd = -float((p * log_q).sum()) * temperature**2
        row = alpha * kd
        if labels[i] >= 0:
            s = logits.shape[1] // n_classes
            cls = torch.logsumexp(logits[i].reshape(n_classes, s), dim=1)
            ce = -float(torch.log_softmax(cls, dim=0)[labels[i]])
            row += (1 - alpha) * ce
        total += row
    return total / n


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_student_loss_with_all_labels(alpha, temperature):
    z, t = _randn(6, 10, 6), _randn(7, 10, 6)
    y = _labels(8, 10, 2)
    crit = SubclassDistillationLoss(2, alpha=alpha, temperature=temperature)
    loss = crit(z, (y, t))
    assert loss.shape == ()
    expected = alpha * distillation_loss(z, t, temperature) + (
        1 - alpha
    ) * F.cross_entropy(class_logits(z, 2), y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    assert float(loss) == pytest.approx(
        _hand_student_loss(z, y, t, 2, alpha, temperature), rel=1e-10
    )


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.8])
def test_student_loss_unlabelled_rows_take_distillation_term_only(alpha):
    z, t = _randn(9, 8, 6), _randn(10, 8, 6)
    y = torch.tensor([0, -1, 2, -1, -1, 1, 0, -1])
    crit = SubclassDistillationLoss(3, alpha=alpha, temperature=2.0)
    loss = float(crit(z, (y, t)))
    assert loss == pytest.approx(_hand_student_loss(z, y, t, 3, alpha, 2.0), rel=1e-10)
    # Same formula with the library functions.
    kd = distillation_loss(z, t, 2.0, reduction="none")
    labelled = y >= 0
    ce = torch.zeros(8, dtype=torch.float64)
    ce[labelled] = F.cross_entropy(
        class_logits(z[labelled], 3), y[labelled], reduction="none"
    )
    expected = (alpha * kd + (1 - alpha) * ce).mean()
    assert loss == pytest.approx(float(expected), rel=1e-12)
    # Unlabelled rows are not treated as class 0 (what clamp(min=0) would give).
    if alpha < 1:
        y0 = y.clamp(min=0)
        assert loss != pytest.approx(float(crit(z, (y0, t))), rel=1e-6)


def test_student_loss_unlabelled_rows_get_only_distillation_gradient():
    z = _randn(11, 4, 4).requires_grad_()
    t = _randn(12, 4, 4)
    y = torch.tensor([1, -1, 0, -1])
    crit = SubclassDistillationLoss(2, alpha=0.5, temperature=3.0)
    (grad,) = torch.autograd.grad(crit(z, (y, t)), z)
    (kd_grad,) = torch.autograd.grad(
        0.5 * distillation_loss(z, t, 3.0, reduction="none").sum() / 4, z
    )
    unl = y < 0
    torch.testing.assert_close(grad[unl], kd_grad[unl])
    assert not torch.allclose(grad[~unl], kd_grad[~unl])


def test_student_loss_alpha_one_ignores_labels():
    z, t = _randn(13, 6, 6), _randn(14, 6, 6)
    crit = SubclassDistillationLoss(2, alpha=1.0, temperature=4.0)
    expected = float(distillation_loss(z, t, 4.0))
    for y in (
        torch.tensor([0, 1, 0, 1, 0, 1]),
        torch.tensor([1, 1, 1, 1, 1, 1]),
        torch.full((6,), -1),
    ):
        assert float(crit(z, (y, t))) == pytest.approx(expected, rel=1e-12)


def test_student_loss_alpha_zero_ignores_teacher():
    z = _randn(15, 6, 6)
    y = torch.tensor([0, 1, -1, 2, 2, -1])
    crit = SubclassDistillationLoss(3, alpha=0.0, temperature=4.0)
    values = [float(crit(z, (y, _randn(seed, 6, 6)))) for seed in (16, 17, 18)]
    assert values == pytest.approx([values[0]] * 3, rel=1e-12)
    labelled = y >= 0
    ce = F.cross_entropy(class_logits(z[labelled], 3), y[labelled], reduction="sum")
    assert values[0] == pytest.approx(float(ce) / 6, rel=1e-12)


def test_student_loss_all_unlabelled_batch_is_finite():
    z = _randn(19, 5, 6).requires_grad_()
    t = _randn(20, 5, 6)
    y = torch.full((5,), -1)
    for alpha in (0.0, 0.5, 1.0):
        loss = SubclassDistillationLoss(2, alpha=alpha, temperature=4.0)(z, (y, t))
        assert torch.isfinite(loss)
        expected = alpha * float(distillation_loss(z.detach(), t, 4.0))
        assert float(loss.detach()) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        (grad,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(grad).all()


def test_student_loss_conventional_distillation_s_equals_one():
    # s = 1: class logits are the logits, so the CE term is ordinary CE.
    z, t = _randn(21, 7, 3), _randn(22, 7, 3)
    y = _labels(23, 7, 3)
    loss = SubclassDistillationLoss(3, alpha=0.5, temperature=4.0)(z, (y, t))
    expected = 0.5 * distillation_loss(z, t, 4.0) + 0.5 * F.cross_entropy(z, y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)


def test_student_loss_float32_matches_float64():
    z, t = _randn(24, 8, 6), _randn(25, 8, 6)
    y = torch.tensor([0, 1, -1, 1, 0, -1, 1, 0])
    crit = SubclassDistillationLoss(2, alpha=0.5, temperature=4.0)
    l64 = float(crit(z, (y, t)))
    l32 = crit(z.float(), (y, t.float()))
    assert l32.dtype == torch.float32
    np.testing.assert_allclose(float(l32), l64, rtol=1e-5)


# -- SubclassHeadNetwork ---------------------------------------------------------


@pytest.mark.parametrize("tau", [1.0, 3.0])
@pytest.mark.parametrize("class_mass", ["subclass_network", "class_network"])
def test_subclass_head_evaluation_output(tau, class_mass):
    """(N, C + K) float64: the body's class log-probabilities, then the
    subclass distribution that ``class_mass`` chooses."""
    torch.manual_seed(0)
    net = SubclassHeadNetwork(
        5, 6, n_classes=2, body=MLP, body_params={"hidden_layer_sizes": (8,)},
        subclass_temperature=tau, class_mass=class_mass,
    )  # fmt: skip
    net.eval()
    X = torch.randn(4, 5)
    out = net(X)
    assert out.shape == (4, 8) and out.dtype == torch.float64
    body = torch.log_softmax(net.body(X).double(), dim=1)
    assert torch.allclose(net.class_log_proba(out), body, atol=1e-12)
    log_proba = net.subclass_log_proba(out)
    assert torch.allclose(log_proba.exp().sum(1), torch.ones(4, dtype=torch.float64))
    b = net.subclass_net(X).double()
    if class_mass == "subclass_network":
        # the subclass network's own softmax at temperature tau
        assert torch.allclose(log_proba, torch.log_softmax(b / tau, dim=1))
        return
    # Each class's block sums to the body's class probability ...
    assert torch.allclose(class_logits(log_proba, 2), body, atol=1e-12)
    # ... split by the head's softmax at temperature tau, block by block.
    within = torch.log_softmax(b.reshape(4, 2, 3) / tau, dim=2).reshape(4, 6)
    assert torch.allclose(log_proba - body.repeat_interleave(3, dim=1), within)


@pytest.mark.parametrize("subclass_input", ["input", "hidden"])
def test_subclass_network_training_output_and_stopped_gradient(subclass_input):
    torch.manual_seed(0)
    net = SubclassHeadNetwork(3, 4, n_classes=2, body=MLP,
                              body_params={"hidden_layer_sizes": (5,)},
                              subclass_input=subclass_input)  # fmt: skip
    X = torch.randn(6, 3)
    out = net(X)
    assert out.shape == (6, 6)  # the body's class logits, then the subclass logits
    assert torch.equal(out[:, :2], net.body(X))
    out[:, 2:].sum().backward()  # the subclass logits alone
    assert all(p.grad is None or not p.grad.any() for p in net.body.parameters())
    assert any(p.grad.any() for p in net.subclass_net.parameters())


def test_subclass_head_needs_a_linear_layer():
    class NoLinear(nn.Module):
        def __init__(self, n_features, n_outputs):
            super().__init__()

        def forward(self, X):
            return X

    with pytest.raises(TypeError, match=r"no torch\.nn\.Linear"):
        SubclassHeadNetwork(3, 4, n_classes=2, body=NoLinear, subclass_input="hidden")


def test_two_head_loss():
    torch.manual_seed(0)
    y = torch.tensor([0, 1, 0, 1])
    a, b = torch.randn(4, 2), torch.randn(4, 6)
    loss = SubclassTeacherLoss(2, aux_weight=0.5, two_heads=True, n_subclasses=3)
    expected = (
        F.cross_entropy(a, y)
        + F.cross_entropy(class_logits(b, 2), y)
        + 0.5 * subclass_auxiliary_loss(b)
    )
    assert torch.allclose(loss(torch.cat([a, b], 1), y), expected)
    # In evaluation mode (set with the network's by skorch) the output is the
    # class then the subclass log-probabilities: the class cross-entropy alone.
    log_class, log_proba = torch.log_softmax(a, 1), torch.log_softmax(b, 1)
    loss.eval()
    assert torch.allclose(
        loss(torch.cat([log_class, log_proba], 1), y), F.cross_entropy(a, y)
    )


def test_teacher_loss_asserts_the_width_of_its_logits():
    # Regression: a two-head loss took logits of another width for the
    # evaluation output and computed a meaningless loss.
    y = torch.tensor([0, 1, 0, 1])
    loss = SubclassTeacherLoss(2, two_heads=True, n_subclasses=3)
    loss(torch.randn(4, 8), y)  # output C + C * s, in training
    loss.eval()
    loss(torch.randn(4, 8), y)  # and in evaluation
    with pytest.raises(AssertionError, match="gives 8 outputs, not 6"):
        loss(torch.randn(4, 6), y)  # C * s: the network's output before
    with pytest.raises(AssertionError, match="gives 8 outputs, not 22"):
        loss(torch.randn(4, 22), y)  # C + C * 10: a network of 10 subclasses
    with pytest.raises(AssertionError, match="not 2 blocks"):
        SubclassTeacherLoss(2)(torch.randn(4, 5), y)


def test_within_class_scope_of_the_teacher_loss():
    torch.manual_seed(0)
    z, y = torch.randn(8, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    loss = SubclassTeacherLoss(3, aux_weight=2.0, aux_scope="within")
    expected = F.cross_entropy(class_logits(z, 3), y) + 2.0 * (
        within_class_auxiliary_loss(z, y, 3)
    )
    assert torch.allclose(loss(z, y), expected)


@pytest.mark.parametrize("two_heads", [False, True])
def test_information_loss_of_the_teacher_loss(two_heads):
    torch.manual_seed(0)
    a, b = torch.randn(8, 3), torch.randn(8, 6)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    loss = SubclassTeacherLoss(
        3, aux_weight=2.0, aux_loss="information", aux_entropy_weight=0.5,
        two_heads=two_heads, n_subclasses=2,
    )  # fmt: skip
    expected = F.cross_entropy(class_logits(b, 3), y) + 2.0 * (
        subclass_information_loss(b, y, 3, entropy_weight=0.5)
    )
    if two_heads:
        expected = expected + F.cross_entropy(a, y)
        assert torch.allclose(loss(torch.cat([a, b], 1), y), expected)
    else:
        assert torch.allclose(loss(b, y), expected)


def test_student_loss_weighs_the_within_class_split():
    z, t = _randn(6, 10, 6), _randn(7, 10, 6)
    y = _labels(8, 10, 2)
    y[::3] = -1
    crit = SubclassDistillationLoss(2, alpha=0.5, temperature=2.0, subclass_weight=0.3)
    kd = subclass_distillation_loss(z, t, 2, 2.0, 0.3, reduction="none")
    ce = F.cross_entropy(class_logits(z, 2), y.clamp(min=0), reduction="none")
    expected = (0.5 * kd + 0.5 * torch.where(y >= 0, ce, 0.0)).mean()
    assert torch.allclose(crit(z, (y, t)), expected)
