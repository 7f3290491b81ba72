"""Build the optional compiled twin of the inventory's per-string loops (scanner/_speedups.c).

Everything else lives in pyproject.toml. ``optional=True``: without a C compiler the install still succeeds
and synthreview runs on the pure-Python twins (slower, same results; ``synthreview version`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "scanner._speedups",
            ["scanner/_speedups.c"],
            libraries=["z", "crypto"],  # zlib and OpenSSL's libcrypto, which CPython itself links
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
