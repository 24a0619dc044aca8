"""Build of the compiled CEB scanner (``smartcustoms.cbec._cebscan``); all other metadata is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("smartcustoms.cbec._cebscan", ["src/smartcustoms/cbec/_cebscan.pyx"])],
        language_level=3,
        build_dir="build",  # the generated C stays out of the package (and the wheel)
    ),
)
