"""fastopt's version, the one place it is written.

pyproject.toml reads it from here (``[tool.setuptools.dynamic]``, statically, without importing
the extension) and ``fastopt.__version__`` is this value.
"""
__version__ = "0.1.0"
