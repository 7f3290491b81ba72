"""Build the optional compiled twin of the inventory's per-string loops (scanner/_speedups.c).

Everything else lives in pyproject.toml. ``optional=True``: without a C compiler (or zlib/OpenSSL headers)
the install still succeeds and synthreview runs on the pure-Python twins (slower, same results). ISA-L
(Debian ``libisal-dev``) is used for inflating big members when its header is present, zlib otherwise.
"""

import os

from setuptools import Extension, setup

_ISAL = os.path.exists("/usr/include/isa-l/igzip_lib.h") and os.environ.get("SYNTHREVIEW_NO_ISAL") != "1"

setup(
    ext_modules=[
        Extension(
            "scanner._speedups",
            ["scanner/_speedups.c"],
            libraries=["z", "crypto", "m"] + (["isal"] if _ISAL else []),  # zlib and libcrypto: CPython links them too
            define_macros=[("SYNTH_HAVE_ISAL", "1")] if _ISAL else [],
            optional=True,
            extra_compile_args=["-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],  # entropy: bit-exact
        )
    ]
)
