"""SubclassTeacherClassifier: API, scikit-learn integration, reproducibility."""

import math
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from torch import nn

from sklearn_subdistill import SubclassTeacherClassifier
from sklearn_subdistill.metrics import subclass_recovery_score

from .conftest import FAST


def _state(estimator):
    return {k: v.clone() for k, v in estimator.net_.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class TinyNet(nn.Module):
    """A custom network: one hidden layer of tunable width."""

    def __init__(self, n_features, n_outputs, width=8):
        super().__init__()
        self.hidden = nn.Linear(n_features, width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(torch.tanh(self.hidden(X)))


def test_shapes_and_probabilities(fitted_teacher, digits2):
    _, X_test, *_ = digits2
    proba = fitted_teacher.predict_proba(X_test)
    sub = fitted_teacher.transform(X_test)
    assert proba.shape == (len(X_test), 2)
    assert sub.shape == (len(X_test), 6)
    assert proba.dtype == np.float64
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # The subclass network's own distribution (class_mass="subclass_network";
    # its class blocks: test_class_mass_chooses_what_transform_exposes).
    assert_allclose(sub.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(np.exp(fitted_teacher.predict_log_proba(X_test)), proba)
    assert_allclose(
        np.exp(fitted_teacher.predict_subclass_log_proba(X_test)), sub, rtol=1e-12
    )
    subclass = fitted_teacher.predict_subclass(X_test)
    assert_array_equal(subclass, sub.argmax(axis=1))
    assert subclass.min() >= 0 and subclass.max() < 6
    assert_array_equal(
        fitted_teacher.predict(X_test), fitted_teacher.classes_[proba.argmax(1)]
    )


def test_fitted_attributes(fitted_teacher, digits2):
    X_train, *_ = digits2
    assert_array_equal(fitted_teacher.classes_, [0, 1])
    assert fitted_teacher.n_features_in_ == 64
    assert fitted_teacher.n_subclasses_ == 3
    assert fitted_teacher.n_iter_ == FAST["max_epochs"] == len(fitted_teacher.history_)
    # Without early stopping every training row is used, every epoch.
    assert sum(fitted_teacher.history_[-1, "batches", :, "train_batch_size"]) == len(
        X_train
    )
    assert "valid_loss" not in fitted_teacher.history_[-1]
    losses = fitted_teacher.history_[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_unfitted_raises(digits2):
    X_train, *_ = digits2
    with pytest.raises(NotFittedError):
        SubclassTeacherClassifier().predict_subclass(X_train)


def test_string_labels_and_multiclass():
    X, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    model = make_pipeline(
        StandardScaler(),
        SubclassTeacherClassifier(n_subclasses=2, **{**FAST, "batch_size": 16}),
    ).fit(X, names)
    assert_array_equal(model.classes_, ["barbera", "barolo", "grignolino"])
    assert model.score(X, names) > 0.9
    assert set(model.predict(X)) <= set(names)
    assert model.transform(X).shape == (len(X), 6)
    assert list(model[-1].get_feature_names_out()) == [
        f"subclass_{name}_{j}"
        for name in ["barbera", "barolo", "grignolino"]
        for j in range(2)
    ]


def test_one_subclass_without_aux_is_ordinary_classifier(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    model = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **FAST)
    model.fit(X_train, y_train)
    assert_allclose(model.transform(X_test), model.predict_proba(X_test))
    assert model.score(X_test, y_test) > 0.9
    # Its loss is plain cross-entropy on the two logits.
    X_batch = torch.as_tensor(X_test[:50])
    logits = model.net_.module_(X_batch)
    y_batch = torch.as_tensor(y_test[:50])
    assert_allclose(
        model.net_.get_loss(logits, y_batch).item(),
        nn.functional.cross_entropy(logits, y_batch).item(),
        rtol=1e-6,
    )


def test_reproducible_bit_for_bit(digits2):
    X_train, X_test, y_train, *_ = digits2
    a = SubclassTeacherClassifier(n_subclasses=3, **FAST).fit(X_train, y_train)
    b = SubclassTeacherClassifier(n_subclasses=3, **FAST).fit(X_train, y_train)
    assert _same_state(_state(a), _state(b))
    assert_array_equal(a.transform(X_test), b.transform(X_test))
    c = SubclassTeacherClassifier(n_subclasses=3, **{**FAST, "random_state": 1})
    c.fit(X_train, y_train)
    assert not _same_state(_state(a), _state(c))


def test_training_does_not_touch_global_rng(digits2):
    X_train, _, y_train, *_ = digits2
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SubclassTeacherClassifier(**FAST).fit(X_train, y_train)
    assert torch.equal(torch.rand(3), expected)


def test_caller_data_not_modified(digits2):
    X_train, _, y_train, *_ = digits2
    X_copy, y_copy = X_train.copy(), y_train.copy()
    SubclassTeacherClassifier(**FAST).fit(X_train, y_train)
    assert_array_equal(X_train, X_copy)
    assert_array_equal(y_train, y_copy)


def test_custom_module_and_module_params(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    model = SubclassTeacherClassifier(module=TinyNet, module__width=5, **FAST)
    assert model.get_params()["module__width"] == 5
    model.fit(X_train, y_train)
    assert model.net_.module_.body.hidden.out_features == 5
    assert model.score(X_test, y_test) > 0.8
    clone_ = clone(model)
    assert clone_.module__width == 5 and not hasattr(clone_, "net_")
    assert "module__width=5" in repr(model)

    search = GridSearchCV(
        SubclassTeacherClassifier(module=TinyNet, **FAST),
        {"module__width": [2, 6]},
        cv=2,
    ).fit(X_train, y_train)
    assert search.best_estimator_.net_.module_.body.hidden.out_features in (2, 6)
    assert list(search.cv_results_["param_module__width"]) == [2, 6]


def test_module_without_required_arguments_is_an_error(digits2):
    X_train, _, y_train, *_ = digits2

    class NoArgs(nn.Module):
        def __init__(self):
            super().__init__()

    with pytest.raises(TypeError, match="n_features and n_outputs"):
        SubclassTeacherClassifier(module=NoArgs, **FAST).fit(X_train, y_train)


def test_unknown_extra_parameter_is_an_error_at_fit(digits2):
    X_train, _, y_train, *_ = digits2
    model = SubclassTeacherClassifier(widht=3, **FAST)  # stored, as sklearn asks
    with pytest.raises(TypeError, match=r"unknown parameter.*widht"):
        model.fit(X_train, y_train)


def test_optimizer_params_reach_the_optimizer(digits2):
    X_train, _, y_train, *_ = digits2
    model = SubclassTeacherClassifier(
        optimizer="sgd", optimizer__momentum=0.9, **FAST
    ).fit(X_train, y_train)
    optimizer = model.net_.optimizer_
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.9
    assert optimizer.param_groups[0]["lr"] == FAST["lr"]


def test_user_callbacks_run_on_copies(digits2):
    X_train, _, y_train, *_ = digits2

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs()
    model = SubclassTeacherClassifier(callbacks=[counter], **FAST).fit(X_train, y_train)
    used = [cb for _, cb in model.net_.callbacks_ if isinstance(cb, CountEpochs)]
    assert used[0].epochs == FAST["max_epochs"]
    assert not hasattr(counter, "epochs")  # the parameter itself is untouched


def test_early_stopping(digits2):
    X_train, _, y_train, *_ = digits2
    model = SubclassTeacherClassifier(
        early_stopping=True,
        n_iter_no_change=2,
        validation_fraction=0.2,
        **{**FAST, "max_epochs": 200, "lr": 3e-2},
    ).fit(X_train, y_train)
    assert model.n_iter_ < 200
    valid = model.history_[:, "valid_loss"]
    n_train = sum(model.history_[-1, "batches", :, "train_batch_size"])
    assert n_train == len(X_train) - math.ceil(0.2 * len(X_train))
    # The best weights are restored: the model scores the best validation loss.
    assert min(valid) <= valid[-1]


def test_verbose_prints_epochs(digits2, capsys):
    X_train, _, y_train, *_ = digits2
    SubclassTeacherClassifier(**{**FAST, "max_epochs": 2}).fit(X_train, y_train)
    assert capsys.readouterr().out == ""
    SubclassTeacherClassifier(verbose=1, **{**FAST, "max_epochs": 2}).fit(
        X_train, y_train
    )
    assert "train_loss" in capsys.readouterr().out


def test_pandas_in_and_out(digits2):
    X_train, X_test, y_train, *_ = digits2
    columns = [f"pixel{i}" for i in range(64)]
    model = SubclassTeacherClassifier(n_subclasses=2, **FAST)
    model.set_output(transform="pandas")
    model.fit(pd.DataFrame(X_train, columns=columns), y_train)
    assert_array_equal(model.feature_names_in_, columns)
    out = model.transform(pd.DataFrame(X_test, columns=columns))
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(model.get_feature_names_out())
    assert list(out.columns)[:2] == ["subclass_0_0", "subclass_0_1"]


def test_grid_search_pipeline_dataframe_string_labels(digits2):
    X_train, X_test, y_train, y_test, *_ = digits2
    names = np.array(["low", "high"])
    frame = pd.DataFrame(X_train, columns=[f"p{i}" for i in range(64)])
    pipe = make_pipeline(StandardScaler(), SubclassTeacherClassifier(**FAST))
    search = GridSearchCV(
        pipe, {"subclassteacherclassifier__n_subclasses": [1, 3]}, cv=3, n_jobs=2
    ).fit(frame, names[y_train])
    test_frame = pd.DataFrame(X_test, columns=frame.columns)
    assert search.score(test_frame, names[y_test]) > 0.85
    assert set(search.predict(test_frame)) == {"low", "high"}


def test_pickle_joblib_clone(fitted_teacher, digits2, tmp_path):
    _, X_test, *_ = digits2
    expected = fitted_teacher.transform(X_test)
    restored = pickle.loads(pickle.dumps(fitted_teacher))
    assert_array_equal(restored.transform(X_test), expected)
    joblib.dump(fitted_teacher, tmp_path / "teacher.joblib")
    restored = joblib.load(tmp_path / "teacher.joblib")
    assert_array_equal(restored.transform(X_test), expected)
    fresh = clone(fitted_teacher)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == fitted_teacher.get_params()


def test_device_resolution():
    from sklearn_subdistill._params import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_and_cpu_prediction_match(digits2):
    X_train, X_test, y_train, *_ = digits2
    model = SubclassTeacherClassifier(**{**FAST, "device": "cuda"}).fit(
        X_train, y_train
    )
    assert next(model.net_.module_.parameters()).is_cuda
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    assert_allclose(proba.sum(1), 1.0)


@pytest.mark.parametrize(
    "params, floor",
    [
        ({}, 0.55),  # the default: separate network, contrastive loss
        ({"subclass_head": "shared", "aux_loss": "contrastive"}, 0.55),  # paper
    ],
    ids=["default", "paper"],
)
def test_digits_subclasses_line_up_with_digits(digits2, params, floor):
    """Acceptance: all 10 subclasses used; they match the digits far above chance."""
    X_train, X_test, y_train, _, _, digit_test = digits2
    teacher = SubclassTeacherClassifier(
        n_subclasses=5, max_epochs=100, device="cpu", subclass_temperature=1.0,
        random_state=0, **params,
    ).fit(X_train, y_train)  # fmt: skip
    assert len(np.unique(teacher.predict_subclass(X_train))) == 10
    subclass = teacher.predict_subclass(X_test)
    score = subclass_recovery_score(digit_test, subclass)
    rng = np.random.RandomState(0)
    chance = subclass_recovery_score(digit_test, rng.permutation(subclass))
    assert score > floor > 2.5 * chance


def test_information_loss_finds_digits_better_than_contrastive(digits2):
    # Same separate subclass network, only the auxiliary loss differs (measured
    # on this split: 0.79 against 0.64; benchmarks/paper_protocol.py has the
    # study over seeds).
    X_train, X_test, y_train, _, _, digit_test = digits2
    params = dict(n_subclasses=5, max_epochs=100, device="cpu", random_state=0)
    scores = {
        loss: subclass_recovery_score(
            digit_test,
            SubclassTeacherClassifier(aux_loss=loss, **params)
            .fit(X_train, y_train)
            .predict_subclass(X_test),
        )
        for loss in ("information", "contrastive")
    }
    assert scores["information"] > scores["contrastive"] + 0.08


def test_aux_loss_keeps_subclasses_apart(digits2):
    X_train, X_test, y_train, *_ = digits2
    params = dict(n_subclasses=5, max_epochs=20, device="cpu", random_state=0)
    used = {
        weight: len(
            np.unique(
                SubclassTeacherClassifier(aux_weight=weight, **params)
                .fit(X_train, y_train)
                .predict_subclass(X_test)
            )
        )
        for weight in (0.0, 1.0)
    }
    assert used[1.0] == 10
    assert used[0.0] < used[1.0]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(digits2, precision):
    X_train, X_test, y_train, y_test, *_ = digits2
    model = SubclassTeacherClassifier(precision=precision, **FAST).fit(X_train, y_train)
    assert (model.net_.scaler_ is not None) == (precision == "fp16")
    assert model.score(X_test, y_test) > 0.9
    proba = model.predict_proba(X_test)
    assert proba.dtype == np.float64
    assert_allclose(proba.sum(1), 1.0, rtol=1e-12)


class RecordDtypes(Callback):
    """Records the dtypes of every training batch's logits and loss."""

    def initialize(self):
        self.dtypes = set()
        return self

    def on_batch_end(self, net, batch=None, training=None, **step):
        if training:
            self.dtypes.add((step["y_pred"].dtype, step["loss"].dtype))


@pytest.mark.parametrize("head", ["detached", "separate", "shared"])
def test_fp64_trains_and_predicts_in_float64(digits2, head):
    X_train, X_test, y_train, y_test, *_ = digits2
    model = SubclassTeacherClassifier(
        n_subclasses=2,
        subclass_head=head,
        precision="fp64",
        callbacks=[RecordDtypes()],
        **FAST,
    ).fit(X_train, y_train)
    module = model.net_.module_
    assert {p.dtype for p in module.parameters()} == {torch.float64}
    recorded = [cb for _, cb in model.net_.callbacks_ if isinstance(cb, RecordDtypes)]
    assert recorded[0].dtypes == {(torch.float64, torch.float64)}
    # Prediction feeds the network float64 batches too.
    inputs = []
    hook = module.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
    try:
        proba = model.predict_proba(X_test)
    finally:
        hook.remove()
    assert [x.dtype for x in inputs] == [torch.float64]
    assert model.score(X_test, y_test) > 0.9
    assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    assert_allclose(model.transform(X_test).sum(1), 1.0, rtol=1e-12)


def test_compile_option_compiles_the_module(digits2):
    X_train, X_test, y_train, *_ = digits2
    model = SubclassTeacherClassifier(
        compile=True, **{**FAST, "max_epochs": 1, "hidden_layer_sizes": (8,)}
    ).fit(X_train[:256], y_train[:256])
    assert type(model.net_.module_).__name__ == "OptimizedModule"
    assert model.predict_proba(X_test).shape == (len(X_test), 2)


def test_memory_mapped_training_data_are_not_copied(digits2, tmp_path):
    X_train, X_test, y_train, y_test, *_ = digits2
    np.save(tmp_path / "X.npy", X_train)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    model = SubclassTeacherClassifier(**FAST).fit(X_map, y_train)
    # Every row is seen once per epoch, in contiguous runs of batch_size rows.
    sizes = model.history_[-1, "batches", :, "train_batch_size"]
    assert sum(sizes) == len(X_train)
    assert model.score(X_test, y_test) > 0.9
    assert_array_equal(model.predict(X_map), model.predict(X_train))


@pytest.mark.parametrize("head", ["separate", "detached"])
def test_subclass_network_pays_no_price(digits2, head):
    """The default teacher's class network is its 1-subclass twin, weight for weight."""
    X_train, X_test, y_train, *_ = digits2
    twin = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **FAST)
    twin.fit(X_train, y_train)
    teacher = SubclassTeacherClassifier(n_subclasses=4, subclass_head=head, **FAST)
    teacher.fit(X_train, y_train)
    body = teacher.net_.module_.body.state_dict()
    for name, value in twin.net_.module_.state_dict().items():
        assert torch.equal(body[name], value)
    assert_allclose(
        teacher.predict_proba(X_test), twin.predict_proba(X_test), atol=1e-6
    )
    assert_array_equal(teacher.predict(X_test), twin.predict(X_test))
    log_proba = teacher.predict_subclass_log_proba(X_test)
    assert log_proba.shape == (len(X_test), 8)
    assert_allclose(np.exp(log_proba).sum(1), 1.0)


def test_subclass_network_is_the_papers_network(digits2):
    """The default's subclass network starts and trains as the paper's
    network (``subclass_head="shared"``) under the same seed, so ``transform``
    gives the paper's subclasses. The same operations on the same batches: in
    float64 any difference is accumulation order, ~1e-16 per step."""
    X_train, X_test, y_train, *_ = digits2
    params = dict(FAST, n_subclasses=3, precision="fp64")
    teacher = SubclassTeacherClassifier(**params).fit(X_train, y_train)
    paper = SubclassTeacherClassifier(subclass_head="shared", **params)
    paper.fit(X_train, y_train)
    subclass_net = teacher.net_.module_.subclass_net.state_dict()
    for name, value in paper.net_.module_.state_dict().items():
        assert_allclose(subclass_net[name], value, rtol=0, atol=1e-9)
    assert_allclose(teacher.transform(X_test), paper.transform(X_test), atol=1e-9)
    assert_array_equal(teacher.predict_subclass(X_test), paper.predict_subclass(X_test))


@pytest.mark.parametrize("subclass_head", ["separate", "detached"])
def test_early_stopping_stops_each_network_as_alone(digits2, subclass_head):
    """With ``early_stopping=True`` the class network stops, and ends, as the
    1-subclass twin does; the default's subclass network as the paper's
    network does, on the paper's loss (``valid_subclass_loss``), which keeps
    improving after the class network's best epoch here. Float64: same
    operations, same batches, so any difference is accumulation order."""
    X_train, X_test, y_train, *_ = digits2
    params = dict(
        FAST, early_stopping=True, n_iter_no_change=3, precision="fp64",
        max_epochs=40,
    )  # fmt: skip
    teacher = SubclassTeacherClassifier(
        n_subclasses=3, subclass_head=subclass_head, **params
    ).fit(X_train, y_train)
    twin = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0, **params)
    twin.fit(X_train, y_train)
    # Training goes on until both networks are done.
    assert twin.n_iter_ <= teacher.n_iter_ <= 40
    expected = twin.predict_proba(X_test)
    assert_allclose(teacher.predict_proba(X_test), expected, atol=1e-9)
    subclass_loss = teacher.history_[:, "valid_subclass_loss"]
    assert len(subclass_loss) == teacher.n_iter_
    if subclass_head == "detached":
        return
    # Here the subclass network is done last: 3 epochs after its best one,
    # which comes after the class network's.
    best = int(np.argmin(subclass_loss)) + 1
    assert teacher.n_iter_ == best + 3 > twin.n_iter_
    paper = SubclassTeacherClassifier(n_subclasses=3, subclass_head="shared", **params)
    paper.fit(X_train, y_train)
    assert paper.n_iter_ == teacher.n_iter_
    assert_allclose(subclass_loss, paper.history_[:, "valid_loss"], rtol=1e-12)
    assert_allclose(teacher.transform(X_test), paper.transform(X_test), atol=1e-9)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_early_stopping_runs_the_subclass_network_in_precision(digits2, precision):
    """Under autocast the subclass network's validation loss is computed as
    its forward pass runs in training: finite, one value per epoch."""
    X_train, _, y_train, *_ = digits2
    teacher = SubclassTeacherClassifier(
        early_stopping=True, precision=precision, **{**FAST, "max_epochs": 3}
    ).fit(X_train, y_train)
    losses = np.asarray(teacher.history_[:, "valid_subclass_loss"])
    assert len(losses) == teacher.n_iter_ == 3
    assert np.isfinite(losses).all()


def _subclass_logits(teacher, X):
    """The subclass network's logits ``b``, in float64."""
    module = teacher.net_.module_.eval()
    with torch.no_grad():
        X = torch.as_tensor(X, dtype=torch.float32)
        return module.class_and_subclass_logits(X, dtype=torch.float64)[1].numpy()


def test_class_mass_chooses_what_transform_exposes(digits2):
    """ "subclass_network": the subclass network's own softmax (at the
    temperature); "class_network": predict_proba split by it. The weights are
    the same, and predict_proba is the class network's either way."""
    X_train, X_test, y_train, *_ = digits2
    params = dict(n_subclasses=3, subclass_temperature=2.0, **FAST)
    own = SubclassTeacherClassifier(**params).fit(X_train, y_train)
    split = SubclassTeacherClassifier(class_mass="class_network", **params)
    split.fit(X_train, y_train)
    assert own.class_mass == "subclass_network"  # the default
    assert_allclose(
        own.predict_proba(X_test), split.predict_proba(X_test), rtol=0, atol=0
    )
    b = _subclass_logits(own, X_test) / 2.0
    # float64 log-softmax of the same float64 logits: exact to rounding
    own_log_proba = b - logsumexp(b, axis=1, keepdims=True)
    assert_allclose(own.predict_subclass_log_proba(X_test), own_log_proba, atol=1e-12)
    assert_array_equal(own.predict_subclass(X_test), b.argmax(1))
    # "class_network": each class block sums to predict_proba and is split
    # as the subclass network splits that class.
    blocks = split.transform(X_test).reshape(len(X_test), 2, 3)
    assert_allclose(blocks.sum(2), split.predict_proba(X_test), atol=1e-12)
    within = b.reshape(-1, 2, 3)
    within = np.exp(within - logsumexp(within, axis=2, keepdims=True))
    assert_allclose(blocks / blocks.sum(2, keepdims=True), within, atol=1e-12)
    # The subclass network's class probabilities are not the class network's.
    own_blocks = own.transform(X_test).reshape(len(X_test), 2, 3).sum(2)
    assert np.abs(own_blocks - own.predict_proba(X_test)).max() > 1e-3


def test_subclass_temperature_softens_only_what_is_exposed(digits2):
    X_train, X_test, y_train, *_ = digits2
    sharp = SubclassTeacherClassifier(subclass_temperature=1.0, **FAST)
    soft = SubclassTeacherClassifier(subclass_temperature=4.0, **FAST)
    sharp.fit(X_train, y_train), soft.fit(X_train, y_train)
    for name, value in sharp.net_.module_.state_dict().items():
        assert torch.equal(soft.net_.module_.state_dict()[name], value)

    def entropy(p):
        return -(p * np.log(p)).sum(1).mean()

    assert entropy(soft.transform(X_test)) > entropy(sharp.transform(X_test))
    assert_allclose(soft.predict_proba(X_test), sharp.predict_proba(X_test))


def test_paper_loss_is_a_parameter_value(digits2):
    X_train, _, y_train, *_ = digits2
    paper = SubclassTeacherClassifier(
        subclass_head="shared", aux_loss="contrastive", n_subclasses=3, **FAST
    ).fit(X_train, y_train)
    assert type(paper.net_.module_).__name__ == "MLP"
    assert paper.net_.module_.layers[-1].out_features == 6
    assert type(paper.net_.criterion_).__name__ == "SubclassTeacherLoss"
    assert not paper.net_.criterion_.two_heads
    assert paper.net_.criterion_.aux_loss == "contrastive"
    assert paper.net_.criterion_.aux_scope == "all"
