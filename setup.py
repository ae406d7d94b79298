"""Build fastopt's one extension, fastopt._kernels: the Cython boundary plus the C kernels.

Flags, chosen by the compiler's type (not the platform) in BuildExt.build_extensions():
  GCC/Clang ("unix", "mingw32", "cygwin"): -O3 -g0 -fno-math-errno -ffp-contract=off
    -fvisibility=hidden. (-g0 overrides the -g in Python's own CFLAGS: the wheel's .so is
    about 1 MB instead of 5.8 MB of DWARF; its symbol table stays, which the tests read to
    check that AVX code is only in the AVX paths.)
  MSVC: /O2 /fp:precise (no contraction under /fp:precise; the AVX paths are GCC/Clang only,
    see src_c/dispatch.c).
Never fast-math (it breaks the bitwise match with the NumPy reference and can set FTZ/DAZ for
the whole process) and never -march/-mavx on the extension (the wheel must run on any x86-64
CPU): the AVX2 and AVX-512 kernels get their target from pragmas in src_c/isa_avx2.c and
src_c/isa_avx512.c, and src_c/dispatch.c only calls them after checking the CPU and OS. The
flags used are compiled in as FO_BUILD_FLAGS (fastopt.show_config() prints them).

Cython runs inside build_ext, and any Cython warning or performance hint (e.g. a noexcept
missing on a nogil path) fails the build: warnings are errors (Options.warning_errors), and
performance hints, which Cython never counts as errors, are caught from its output.

Environment:
  FASTOPT_DEBUG=1     -O0 -g, asserts on, Cython bounds/wraparound/initialized checks on
                      (MSVC: /Od /Zi).
  FASTOPT_SANITIZE=1  adds -fsanitize=address,undefined (run with LD_PRELOAD of libasan);
                      GCC/Clang only.
  FASTOPT_OPENMP=0    builds without OpenMP (steps then run on the calling thread only).
                      On by default: -fopenmp (GCC/Clang), /openmp (MSVC); OpenMP is the
                      thread runtime of src_c/threads.c.
"""
import contextlib
import glob
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from Cython.Build import cythonize
from Cython.Compiler import Options as CythonOptions
from Cython.Compiler.Errors import CompileError as CythonCompileError
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

DEBUG = os.environ.get("FASTOPT_DEBUG", "0") not in ("", "0")
SANITIZE = os.environ.get("FASTOPT_SANITIZE", "0") not in ("", "0")
OPENMP = os.environ.get("FASTOPT_OPENMP", "1") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
    "show_performance_hints": True,  # Cython's default; the build fails on any (see below)
}


def compiler_flags(compiler_type):
    """(compile args, link args) for a distutils compiler type."""
    if compiler_type == "msvc":
        cflags = ["/Od", "/Zi"] if DEBUG else ["/O2"]
        return cflags + ["/fp:precise"] + (["/openmp"] if OPENMP else []), []
    # GCC or Clang: "unix" (Linux, macOS, BSDs), "mingw32", "cygwin".
    cflags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-g0"]
    cflags += ["-fno-math-errno", "-ffp-contract=off", "-fvisibility=hidden"]
    ldflags = []
    if OPENMP:
        cflags.append("-fopenmp")
        ldflags.append("-fopenmp")
    if SANITIZE:
        # -O1, as AddressSanitizer's documentation advises: at -O3 the instrumented unrolled
        # kernels (and their half-precision storage compiles) took 8 minutes to build
        cflags = [f for f in cflags if f != "-O3"] + ["-O1"]
        cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        ldflags += ["-fsanitize=address,undefined"]
    return cflags, ldflags


class _Tee:
    """A stand-in for sys.stderr that also keeps what is written to it."""

    def __init__(self, stream):
        self._stream = stream
        self.text = []

    def write(self, s):
        self.text.append(s)
        return self._stream.write(s)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _cython_diagnostics():
    """Cython warnings become errors; yields the list of everything Cython printed.

    Cython echoes its diagnostics to the sys.stderr of the moment each module's compilation
    starts, so a tee there sees them (the performance hints included) in this process.
    """
    tee = _Tee(sys.stderr)
    saved = CythonOptions.warning_errors
    CythonOptions.warning_errors = True
    sys.stderr = tee
    try:
        yield tee.text
    finally:
        sys.stderr = tee._stream
        CythonOptions.warning_errors = saved


def cythonize_strictly(ext, force):
    """Cythonize one extension in place; fail on any Cython warning or performance hint."""
    with _cython_diagnostics() as printed:
        try:
            (new_ext,) = cythonize([ext], compiler_directives=DIRECTIVES, force=force)
        except CythonCompileError as e:
            # Errors, warnings included, are listed above; Cython has spoilt the .c it wrote, so
            # the next build compiles the .pyx again.
            raise CompileError(f"Cython failed on {e} (its warnings are errors here)") from None
    flagged = [line for line in "".join(printed).splitlines()
               if line.startswith(("performance hint:", "warning:"))]
    if flagged:
        for c_file in (s for s in new_ext.sources if s not in ext.sources):
            with contextlib.suppress(OSError):
                os.remove(c_file)  # so the next build compiles the .pyx again, and fails again
        raise CompileError("Cython's performance hints and warnings (above) fail the build:\n"
                           + "\n".join(flagged))
    ext.sources = new_ext.sources


def _build_jobs():
    """Sources compiled at once: FASTOPT_BUILD_JOBS, else the CPUs this process may use."""
    if os.environ.get("FASTOPT_BUILD_JOBS"):
        return max(1, int(os.environ["FASTOPT_BUILD_JOBS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _compile_in_parallel(compile_sources, jobs):
    """The compiler's compile(sources, ...) run on each source in its own thread (each
    compile is a subprocess): the per-ISA files take most of a build, one after another."""
    def compile(sources, *args, **kwargs):
        if jobs <= 1 or len(sources) <= 1:
            return compile_sources(sources, *args, **kwargs)
        with ThreadPoolExecutor(min(jobs, len(sources))) as pool:
            parts = list(pool.map(lambda src: compile_sources([src], *args, **kwargs),
                                  sources))
        return [obj for part in parts for obj in part]
    return compile


class BuildExt(build_ext):
    """Cythonize strictly, then compile with the flags of the compiler in use, the sources
    in parallel."""

    def build_extensions(self):
        self.compiler.compile = _compile_in_parallel(self.compiler.compile, _build_jobs())
        compiler_type = self.compiler.compiler_type
        cflags, ldflags = compiler_flags(compiler_type)
        if SANITIZE and compiler_type == "msvc":
            self.warn("FASTOPT_SANITIZE is ignored with MSVC")
        for ext in self.extensions:
            ext.extra_compile_args = cflags + list(ext.extra_compile_args or [])
            ext.extra_link_args = ldflags + list(ext.extra_link_args or [])
            ext.define_macros = list(ext.define_macros or []) + [
                ("FO_BUILD_FLAGS", '"' + " ".join(cflags) + '"')]
            cythonize_strictly(ext, force=self.force)
        super().build_extensions()


def _files(pattern):
    return [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]


extension = Extension(
    "fastopt._kernels",
    sources=[   # (the longest compiles first: they start first in a parallel build)
        "src_c/isa_avx512.c",
        "src_c/isa_avx2.c",
        "src_c/isa_baseline.c",
        "fastopt/_kernels.pyx",
        "src_c/plan.c",
        "src_c/threads.c",
        "src_c/dispatch.c",
    ],
    include_dirs=["src_c", np.get_include()],
    # Everything the .so is built from: the .pxd/.pxi the .pyx includes and all of src_c/.
    depends=sorted({*_files("fastopt/*.pxd"), *_files("fastopt/*.pxi"),
                    *_files(os.path.join("src_c", "**", "*"))}),
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_21_API_VERSION")],
)

setup(ext_modules=[extension], cmdclass={"build_ext": BuildExt})
