"""sphinx-gallery hooks of the sklearn_subdistill docs (referenced from conf.py)."""

from pathlib import Path

#: The gallery's reading order; examples not listed follow, by file name.
ORDER = [
    "plot_quickstart.py",
    "plot_digits_subclasses.py",
    "plot_grid_search.py",
    "plot_hyperband_search.py",
    "plot_distill_gradient_boosting.py",
    "plot_embedding_subclasses.py",
    "plot_custom_network.py",
    "plot_semi_supervised.py",
    "plot_data_on_disk.py",
]


class ExampleOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        if name in ORDER:
            return (ORDER.index(name), name)
        return (len(ORDER), name)

    def __repr__(self):
        return f"{type(self).__name__}()"


def reset_torch(gallery_conf, fname):
    """Run every example on one CPU thread with a fresh torch seed.

    The examples train tiny networks, for which intra-op threads cost more
    in synchronisation than they save, most of all on a busy machine.
    """
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
