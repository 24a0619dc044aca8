"""Build of the compiled parts of the CBEC hot path; all other metadata is in pyproject.toml.

* ``smartcustoms.cbec._cebscan``: the CEB scanner, router and receipt writer, written in Cython.
* The plain Python modules in :data:`COMPILED` are also compiled by Cython, as they are (no Cython types):
  the interpreter's dispatch is about 7 % of a writer shard's instructions (``bench/cbec_shard_ir.py``).
  Each ``.py`` stays the source and the fallback when no extension is built; ``make install`` rebuilds
  the extensions when one of them changes, and ``tests/cbec/test_compiled.py`` fails on a stale one.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

COMPILED = (
    "smartcustoms.cbec.pipeline",
    "smartcustoms.cbec.matcher",
    "smartcustoms.cbec.log",
    "smartcustoms.cbec.messages",
    "smartcustoms.cbec.risk_seam",
    "smartcustoms.cbec.tax",
    "smartcustoms.cbec.quota",
    "smartcustoms.cbec.store",
    "smartcustoms.risk.parcels",
)

setup(
    ext_modules=cythonize(
        [Extension("smartcustoms.cbec._cebscan", ["src/smartcustoms/cbec/_cebscan.pyx"])]
        + [Extension(m, [f"src/{m.replace('.', '/')}.py"]) for m in COMPILED],
        language_level=3,
        # annotations stay annotations (not C type declarations): the modules behave as they do uncompiled
        compiler_directives={"annotation_typing": False, "binding": True},
        build_dir="build",  # the generated C stays out of the package (and the wheel)
    ),
)
