"""Build of the compiled parts of the CBEC hot path; all other metadata is in pyproject.toml.

* The Cython kernels in :data:`KERNELS` (``.pyx``, each a self-contained extension with a pure-Python reference
  it is tested against): the CEB scanner and the receipt writer (``cbec/ceb/``), the shard router
  (``cbec/_framing``), the quick consistency test (``cbec/_match``), the log's hash map and record encoder
  (``cbec/_log``). They share only the inline output buffer of ``cbec/ceb/_buf.pxd``.
* The plain Python modules in :data:`COMPILED` are also compiled by Cython, as they are (no Cython types):
  the interpreter's dispatch is about 7 % of a writer shard's instructions (``bench/cbec_shard_ir.py``).
  Each ``.py`` stays the source and the fallback when no extension is built; ``make install`` rebuilds
  the extensions when one of them changes, and ``tests/cbec/test_compiled.py`` fails on a stale one.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = (
    "smartcustoms.cbec.ceb._scan",
    "smartcustoms.cbec.ceb._receipts",
    "smartcustoms.cbec._framing",
    "smartcustoms.cbec._match",
    "smartcustoms.cbec._log",
    "smartcustoms.cbec.ceb._c14n",
)

COMPILED = (
    "smartcustoms.cbec.engine",
    "smartcustoms.cbec.framing",
    "smartcustoms.cbec.runner",
    "smartcustoms.cbec.positive_list",
    "smartcustoms.cbec.matcher",
    "smartcustoms.cbec.log",
    "smartcustoms.cbec.ceb.spec",
    "smartcustoms.cbec.ceb.parse",
    "smartcustoms.cbec.ceb.emit",
    "smartcustoms.cbec.ceb.receipts",
    "smartcustoms.cbec.ceb.signature",
    "smartcustoms.cbec.seams",
    "smartcustoms.tax.retail",
    "smartcustoms.cbec.quota",
    "smartcustoms.cbec.store",
    "smartcustoms.risk.parcels.scoring",
    "smartcustoms.risk.parcels.selectivity",
)

setup(
    ext_modules=cythonize(
        [Extension(m, [f"src/{m.replace('.', '/')}.pyx"]) for m in KERNELS]
        + [Extension(m, [f"src/{m.replace('.', '/')}.py"]) for m in COMPILED],
        language_level=3,
        # annotations stay annotations (not C type declarations): the modules behave as they do uncompiled
        compiler_directives={"annotation_typing": False, "binding": True},
        build_dir="build",  # the generated C stays out of the package (and the wheel)
    ),
)
