"""fastopt.show_config(): what was built and what runs."""
import platform
import sys

import numpy as np

from fastopt import _kernels, _openmp


def config():
    """The facts show_config() prints, as a dict."""
    from fastopt import __version__
    return {
        "version": __version__,
        "isa": _kernels.current_isa(),
        "isa_best": _kernels.best_isa(),
        "isa_default": _kernels.default_isa(),
        "isa_half": _kernels.current_half_isa(),
        "isa_half_default": _kernels.default_half_isa(),
        "isas_available": list(_kernels.available_isas()),
        "isas_compiled": list(_kernels.compiled_isas()),
        "compile_flags": _kernels.BUILD_FLAGS,
        "threads": _kernels.threads_for(0),
        "threads_runtime": _kernels.threads_runtime(),
        "threads_setting": _kernels.threads_setting()[0] or None,
        "threads_default": _kernels.threads_setting()[1],
        "threads_runtime_max": _kernels.threads_max(),
        "openmp": _openmp.RUNTIME,
        "openmp_spincount": _openmp.SPINCOUNT,
        "thread_min_elements": _kernels.thread_min_elements(),
        "nogil_min_elements": _kernels.NOGIL_MIN_ELEMENTS,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


_OPENMP_TEXT = {"bundled": "bundled with the wheel (fastopt.libs/), fastopt's alone",
                "system": "the system's libgomp.so.1 (shared with torch when it is loaded)",
                "none": "none (built with FASTOPT_OPENMP=0)"}


def show_config(file=None):
    """Print fastopt's version, ISA path in use and available, compile flags and threads."""
    c = config()
    lines = [
        f"fastopt {c['version']} (Python {c['python']}, NumPy {c['numpy']}, {c['machine']})",
        f"  ISA path in use : {c['isa']}   (default here: {c['isa_default']}; widest here: "
        f"{c['isa_best']}; choose with FASTOPT_ISA=baseline|avx2|avx512, avx512 is opt-in)",
        f"  half precision  : {c['isa_half']}   (bfloat16/float16 storage; default here: "
        f"{c['isa_half_default']}, the widest path: its conversions are the work; FASTOPT_ISA "
        f"sets one path for everything)",
        f"  ISA paths here  : {', '.join(c['isas_available'])}",
        f"  ISA paths built : {', '.join(c['isas_compiled'])}",
        f"  compile flags   : {c['compile_flags']}",
        f"  threads         : {c['threads']} per step ({c['threads_runtime']}; set: "
        f"{c['threads_setting']}, default: {c['threads_default']} = the CPUs this process may "
        f"use or FASTOPT_NUM_THREADS, runtime allows: {c['threads_runtime_max']}); steps of "
        f"fewer than {c['thread_min_elements']} elements per thread stay on one thread; the "
        f"GIL is released for steps of >= {c['nogil_min_elements']} elements",
        f"  OpenMP runtime  : {_OPENMP_TEXT[c['openmp']]}"
        + (f", started with GOMP_SPINCOUNT={c['openmp_spincount']}"
           if c["openmp_spincount"] else ""),
    ]
    print("\n".join(lines), file=file)
