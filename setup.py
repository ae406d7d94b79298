"""Build fastopt's one extension, fastopt._kernels: the Cython boundary plus the C kernels.

Flags: -O3 -fno-math-errno -ffp-contract=off for everything; never fast-math (it breaks the
bitwise match with the NumPy reference and can set FTZ/DAZ for the whole process) and never
-march/-mavx on the extension (the wheel must run on any x86-64 CPU): the AVX2 and AVX-512
kernels get their target from pragmas in src_c/isa_avx2.c and src_c/isa_avx512.c, and
src_c/dispatch.c only calls them after checking the CPU and OS.

Environment:
  FASTOPT_DEBUG=1     -O0 -g, asserts on, Cython bounds/wraparound/initialized checks on.
  FASTOPT_SANITIZE=1  adds -fsanitize=address,undefined (run with LD_PRELOAD of libasan).
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTOPT_DEBUG", "0") not in ("", "0")
SANITIZE = os.environ.get("FASTOPT_SANITIZE", "0") not in ("", "0")

if sys.platform == "win32":
    # MSVC: no contraction under /fp:precise; the AVX paths are GCC/Clang only (dispatch.c).
    cflags = ["/Od", "/Zi"] if DEBUG else ["/O2"]
    cflags += ["/fp:precise"]
    ldflags = []
else:
    cflags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
    cflags += ["-fno-math-errno", "-ffp-contract=off", "-fvisibility=hidden"]
    ldflags = []
    if SANITIZE:
        cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        ldflags += ["-fsanitize=address,undefined"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extension = Extension(
    "fastopt._kernels",
    sources=[
        "fastopt/_kernels.pyx",
        "src_c/plan.c",
        "src_c/dispatch.c",
        "src_c/isa_baseline.c",
        "src_c/isa_avx2.c",
        "src_c/isa_avx512.c",
    ],
    include_dirs=["src_c", np.get_include()],
    depends=[
        "src_c/fastopt.h",
        "src_c/isa_body.h",
        "src_c/vec.h",
        *(os.path.join("src_c", "kernels", f) for f in sorted(os.listdir("src_c/kernels"))),
    ],
    define_macros=[
        ("NPY_NO_DEPRECATED_API", "NPY_1_21_API_VERSION"),
        ("FO_BUILD_FLAGS", '"' + " ".join(cflags) + '"'),
    ],
    extra_compile_args=cflags,
    extra_link_args=ldflags,
)

setup(ext_modules=cythonize([extension], compiler_directives=directives))
