"""Sphinx configuration of the sklearn_subdistill documentation.

Build with the gallery executed and warnings as errors::

    python -m sphinx -W -b html docs docs/_build/html

The build needs no network. Cross-references to Python, NumPy, SciPy,
scikit-learn, PyTorch and skorch are resolved through intersphinx only when
``SUBDISTILL_DOCS_ONLINE=1`` is set; otherwise they stay plain text. Set
``SUBDISTILL_DOCS_PLOT_GALLERY=0`` to build without running the examples.
"""

import importlib
import os
import pkgutil
import re
import sys
from pathlib import Path

from sphinx.util import logging

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

import sklearn_subdistill

logger = logging.getLogger(__name__)

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
    # Sphinx < 9 passes the parent's type ("class"), Sphinx 9 the member's.
    if what == "module" or skip:
        return skip
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None) or ""
    return not (callable(target) and module.startswith("sklearn_subdistill"))


_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])(\w+_)(?![`\w])")


def _quote_shape_names(app, what, name, obj, options, lines):
    """Quote fitted-attribute names in shapes: ``shape (`n_features_in_`,)``.

    In reST a word ending in ``_`` is a link to a target of that name, so
    ``ndarray of shape (n_features_in_,)`` in a docstring's type would be a
    broken link; scikit-learn writes it with backquotes, which this adds.
    """

    def quote(match):
        inner = _TRAILING_UNDERSCORE.sub(r"`\1`", match.group(1))
        return f"shape ({inner})"

    lines[:] = [_SHAPE.sub(quote, line) for line in lines]


def _check_api_coverage(app):
    """Warn (an error with -W) about public names that api.rst does not list.

    Public means listed in ``__all__`` of the package or of one of its public
    submodules; a name counts as listed when api.rst documents the same object
    under any module.
    """
    documented, module = set(), None
    for line in (HERE / "api.rst").read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = importlib.import_module(match.group(1))
        elif (match := re.fullmatch(r"   ([A-Za-z_]\w*)", line)) and module:
            documented.add(id(getattr(module, match.group(1), None)))
    names = ["sklearn_subdistill"] + [
        f"sklearn_subdistill.{info.name}"
        for info in pkgutil.iter_modules(sklearn_subdistill.__path__)
        if not info.name.startswith("_")
    ]
    for name in names:
        public = importlib.import_module(name)
        for attr in getattr(public, "__all__", []):
            obj = getattr(public, attr)
            if not attr.startswith("__") and id(obj) not in documented:
                logger.warning(f"{name}.{attr} is public but not listed in api.rst")


def setup(app):
    app.connect("builder-inited", _check_api_coverage)
    app.connect("autodoc-skip-member", _skip_foreign_member)
    # Before numpydoc (priority 500) turns the docstring into reST.
    app.connect("autodoc-process-docstring", _quote_shape_names, priority=400)


# The benchmark tables are included from benchmarks/results/*.md as written by
# the scripts, whose heading levels skip one under the page's own headings.
suppress_warnings = ["myst.header"]
