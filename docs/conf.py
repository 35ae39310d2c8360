"""Sphinx configuration of the sklearn_subdistill documentation.

Build with the gallery executed and warnings as errors::

    python -m sphinx -W -b html docs docs/_build/html

The build needs no network. Cross-references to Python, NumPy, SciPy,
scikit-learn, PyTorch and skorch are resolved through intersphinx only when
``SUBDISTILL_DOCS_ONLINE=1`` is set; otherwise they stay plain text. Set
``SUBDISTILL_DOCS_PLOT_GALLERY=0`` to build without running the examples.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

import sklearn_subdistill

project = "sklearn-subdistill"
author = "sklearn_subdistill developers"
copyright = "sklearn_subdistill developers"
version = sklearn_subdistill.__version__
release = sklearn_subdistill.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sphinxext"]
templates_path = ["_templates"]
default_role = "literal"

# -- autodoc, autosummary and numpydoc --------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
autodoc_typehints = "none"
# Methods are listed by the class template (_templates/autosummary/class.rst),
# not by numpydoc, which would need a stub page per method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- intersphinx --------------------------------------------------------------
# The build must work offline, where fetching an inventory fails (and with -W,
# fails the build). Inventories are fetched only on request; without them,
# references to external objects render as plain text and do not warn.

_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
}
ONLINE = os.environ.get("SUBDISTILL_DOCS_ONLINE", "0") == "1"
intersphinx_mapping = _INTERSPHINX if ONLINE else {}

# -- sphinx-gallery -------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "subdistill_gallery.ExampleOrder",
    "reset_modules": ("matplotlib", "subdistill_gallery.reset_torch"),
    "doc_module": ("sklearn_subdistill",),
    "backreferences_dir": "generated/backreferences",
    "exclude_implicit_doc": {r"sklearn_subdistill\.__version__"},
    "log_level": {"backreference_missing": "debug"},
    "plot_gallery": os.environ.get("SUBDISTILL_DOCS_PLOT_GALLERY", "True"),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "min_reported_time": 1,
    "show_memory": False,
    "remove_config_comments": True,
}

# -- HTML -----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-subdistill {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document only the methods and properties this package defines.

    The estimators also inherit scikit-learn's ``score``, ``fit_transform``,
    ``set_output`` and metadata-routing methods, and the networks inherit
    ``torch.nn.Module``'s; their own documentation covers them.
    """
    if what != "class" or skip:
        return skip
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None) or ""
    return not (callable(target) and module.startswith("sklearn_subdistill"))


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
