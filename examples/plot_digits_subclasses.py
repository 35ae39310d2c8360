"""
=======================================
Discovering hidden subclasses in digits
=======================================

A :class:`~sklearn_subdistill.SubclassTeacherClassifier` is trained to tell
digits 0-4 from digits 5-9, with five subclasses per class. It never sees the
digits themselves, yet the subclasses it invents can line up with them. This
example shows the images in each invented subclass, the matrix of subclasses
against digits, and what happens to the subclasses without the auxiliary loss.
"""

# %%
# Train the teacher
# -----------------
# The teacher is fitted on all 1797 images: the question here is what the
# subclasses look like, not how well the teacher generalises.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics.cluster import contingency_matrix

from sklearn_subdistill import SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses
from sklearn_subdistill.metrics import subclass_recovery_score

# By default a second network splits each class (``subclass_head="separate"``),
# trained as the paper's network is: cross-entropy of each class's
# log-sum-exp of subclass logits, plus the paper's contrastive loss
# (``aux_loss="contrastive"``), which pushes the images of a batch apart in
# subclass space. Five subclasses per class, the digits in each class, so
# that subclasses can be matched with digits; the default is 10.
X, y, digit = load_digits_superclasses()
teacher = SubclassTeacherClassifier(
    n_subclasses=5,
    hidden_layer_sizes=(256, 256),
    max_epochs=40,
    lr=3e-3,
    random_state=1,
    device="cpu",
).fit(X, y)
subclass = teacher.predict_subclass(X)
print(f"training accuracy on the two classes: {teacher.score(X, y):.3f}")
print(f"subclass recovery score: {subclass_recovery_score(digit, subclass):.3f}")

# %%
# The images of each subclass
# ---------------------------
# One grid per invented subclass: the 16 images the teacher finds most
# typical of it (highest subclass probability among the images assigned to
# it). Subclasses ``0-4`` belong to class 0 (digits 0-4), subclasses ``5-9`` to
# class 1 (digits 5-9); their numbering within a class is arbitrary.
proba = teacher.transform(X)
n_subclasses_total = proba.shape[1]
fig = plt.figure(figsize=(10, 4.6), layout="constrained")
panels = fig.subfigures(2, 5, wspace=0.04, hspace=0.06)
for k, panel in enumerate(panels.ravel()):
    members = np.flatnonzero(subclass == k)
    typical = members[np.argsort(proba[members, k])[::-1][:16]]
    axes = panel.subplots(4, 4)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, index in zip(axes.ravel(), typical, strict=False):
        ax.imshow(X[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    panel.suptitle(f"subclass {k} ({len(members)})", fontsize=9)
fig.suptitle("Most typical images of each invented subclass (count in brackets)")
plt.show()

# %%
# Subclasses against digits
# -------------------------
# Each row is an invented subclass, each column a digit, each cell the number
# of images; rows are sorted by the digit each subclass holds most of. A
# subclass that matches a digit has one dark cell in its row.
# :func:`~sklearn_subdistill.metrics.subclass_recovery_score` is the share of
# images on the best one-to-one matching of subclasses to digits.
counts = contingency_matrix(subclass, digit)
used = np.unique(subclass)  # the rows of `counts`: subclasses with an image
order = np.argsort(counts.argmax(axis=1), kind="stable")
counts, used = counts[order], used[order]
fig, ax = plt.subplots(figsize=(6, 5))
image = ax.imshow(counts, cmap="Blues")
for (row, col), value in np.ndenumerate(counts):
    color = "white" if value > counts.max() / 2 else "black"
    ax.text(col, row, value, ha="center", va="center", color=color, fontsize=7)
ax.set_xticks(range(10))
ax.set_yticks(range(len(used)), labels=[f"subclass {k}" for k in used])
ax.set_xlabel("digit (hidden from the teacher)")
ax.set_title("Images per invented subclass and digit")
fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()
plt.show()

# %%
# Without the auxiliary loss
# --------------------------
# The label loss only sees the log-sum-exp of each class's subclass logits, so
# nothing in it asks the subclass network to use more than one subclass per
# class. The
# auxiliary loss (weight ``aux_weight``) is what spreads the images over the
# subclasses. Training the same teacher with ``aux_weight=0`` shows how many
# images each subclass receives without it.
collapsed = SubclassTeacherClassifier(
    n_subclasses=5,
    aux_weight=0.0,
    hidden_layer_sizes=(256, 256),
    max_epochs=40,
    lr=3e-3,
    random_state=1,
    device="cpu",
).fit(X, y)
collapsed_subclass = collapsed.predict_subclass(X)
print(
    "subclass recovery score without the auxiliary loss: "
    f"{subclass_recovery_score(digit, collapsed_subclass):.3f}"
)

fig, ax = plt.subplots(figsize=(7, 3))
width = 0.4
positions = np.arange(n_subclasses_total)
ax.bar(
    positions - width / 2,
    np.bincount(subclass, minlength=n_subclasses_total),
    width,
    label="aux_weight=1 (default)",
)
ax.bar(
    positions + width / 2,
    np.bincount(collapsed_subclass, minlength=n_subclasses_total),
    width,
    label="aux_weight=0",
)
ax.set_xticks(positions)
ax.set_xlabel("subclass (0-4: digits 0-4, 5-9: digits 5-9)")
ax.set_ylabel("images assigned")
ax.legend()
fig.tight_layout()
plt.show()
