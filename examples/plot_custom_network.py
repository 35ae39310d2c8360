"""
======================
A custom torch network
======================

Both estimators train the network class passed as ``module``. Here the teacher
is a small two-dimensional convolutional network that reads the digits as 8x8
images, and the student a plain multi-layer perceptron.

The contract for ``module`` is short:

- it is a :class:`torch.nn.Module` *class* (not an instance);
- it is constructed with the keyword arguments ``n_features`` (columns of
  ``X``) and ``n_outputs`` (``n_classes * n_subclasses``), plus every
  ``module__<name>`` parameter set on the estimator;
- its ``forward`` maps a float32 batch of shape ``(batch, n_features)`` to
  logits of shape ``(batch, n_outputs)``.
"""

# %%
# The network
# -----------
# ``X`` stays a flat table with one row per image, as scikit-learn expects;
# the network reshapes each row into an image. ``channels`` is an extra
# constructor argument, set from the estimator as ``module__channels``.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses
from sklearn_subdistill.metrics import subclass_recovery_score


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions and a linear layer on 8x8 single-channel images."""

    def __init__(self, n_features, n_outputs, channels=16, side=8):
        super().__init__()
        assert n_features == side * side, f"expected {side}x{side} images"
        self.side = side
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(channels * (side // 2) ** 2, n_outputs)

    def forward(self, X):
        X = X.reshape(-1, 1, self.side, self.side)  # (N, 64) -> (N, 1, 8, 8)
        X = self.conv1(X).relu()
        X = self.pool(self.conv2(X).relu())  # (N, c, 8, 8) -> (N, c, 4, 4)
        return self.head(X.flatten(1))  # (N, c * 16) -> (N, n_outputs)


# %%
# The teacher
# -----------
# ``module=DigitsCNN`` replaces the default MLP (``hidden_layer_sizes`` is
# then ignored). ``module__channels`` reaches the constructor, and like any
# other parameter it shows in ``get_params`` and can be tuned by
# ``GridSearchCV``.
X, y, digit = load_digits_superclasses()
X_train, X_test, y_train, y_test, digit_train, digit_test = train_test_split(
    X, y, digit, test_size=0.3, stratify=digit, random_state=0
)
teacher = SubclassTeacherClassifier(
    module=DigitsCNN,
    module__channels=16,
    n_subclasses=5,
    max_epochs=30,
    lr=1e-2,
    random_state=0,
    device="cpu",
).fit(X_train, y_train)
print(teacher.get_params()["module__channels"])
print(teacher.net_.module_)

# %%
# The student
# -----------
# The student keeps the default MLP with a single hidden layer of 16 units;
# its output layer has the teacher's ``2 * 5`` subclass logits.
student = SubclassDistilledStudent(
    teacher=FrozenEstimator(teacher),
    hidden_layer_sizes=(16,),
    max_epochs=60,
    lr=1e-2,
    random_state=0,
    device="cpu",
).fit(X_train, y_train)

pd.DataFrame(
    {
        "network": ["DigitsCNN, 16 channels", "MLP, 16 hidden units"],
        "parameters": [
            sum(p.numel() for p in model.net_.module_.parameters())
            for model in (teacher, student)
        ],
        "test accuracy": [model.score(X_test, y_test) for model in (teacher, student)],
        "subclass recovery": [
            subclass_recovery_score(digit_test, model.predict_subclass(X_test))
            for model in (teacher, student)
        ],
    },
    index=["teacher", "student"],
).round(3)

# %%
# What the first layer learnt
# ---------------------------
# The fitted torch module is ``teacher.net_.module_.body`` (``net_.module_``
# adds the subclass head beside it); its first convolution
# holds one 3x3 filter per channel.
filters = teacher.net_.module_.body.conv1.weight.detach().numpy()[:, 0]
fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
for ax, kernel in zip(axes.ravel(), filters, strict=True):
    ax.imshow(kernel, cmap="RdBu_r", vmin=-abs(kernel).max(), vmax=abs(kernel).max())
    ax.set_axis_off()
fig.suptitle("The teacher's 16 first-layer filters")
plt.show()
