"""Collection settings for the doctests of the package (``--doctest-modules``)."""

import importlib.util

# sklearn_subdistill.onnx needs the `onnx` extra; without it, skip the module
# rather than fail collection (tests/test_onnx.py says so with a reason).
collect_ignore = []
if not all(importlib.util.find_spec(name) for name in ("skl2onnx", "onnxscript")):
    collect_ignore.append("sklearn_subdistill/onnx.py")
