"""Process-wide numerics stay as they were; the build and the dispatch are what they claim.

The build's promises are checked by what they cause, never by reading back the flags string
the build wrote: subnormals survive (no FTZ/DAZ) and nothing fuses a * b + c (contraction
off) on every ISA path, and the compiled code holds no FMA instruction, no write of the
floating-point mode, and AVX instructions only in the AVX paths.
"""
import os
import platform
import re
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import fastopt
from fastopt import _kernels, functional, reference


def _run(code, **env):
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                         cwd=os.path.dirname(__file__))
    assert out.returncode == 0, out.stderr
    return out


# ---- no flush-to-zero, no denormals-are-zero ------------------------------------------------

#: Subnormal bit patterns (float32: m * 2**-149; float64: m * 2**-1074), so that no
#: floating-point operation (which FTZ/DAZ would change) makes the expected values.
_SUBNORMAL = {
    np.float32: (np.uint32, 0x00100000, 0x00080000, 0x000C0000),   # 2**-129, 2**-130, 3*2**-131
    np.float64: (np.uint64, 0x4000, 0x2000, 0x3000),           # 2**-1060, 2**-1061, 3*2**-1062
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", [61, 4096 + 61])
def test_subnormal_results_are_exact_on_every_isa_path(dtype, n, isa):
    """p = 2s, g = s (s subnormal), lr = 0.5: SGD's p - 0.5 * g is 1.5 s exactly, a subnormal
    result of subnormal inputs, in the vector blocks (n >= 4096) and the plain loop. FTZ
    would flush 0.5 * g (and the result) to zero, DAZ would read p and g as zero."""
    uint, p_bits, g_bits, want_bits = _SUBNORMAL[dtype]
    p = np.full(n, p_bits, uint).view(dtype)
    g = np.full(n, g_bits, uint).view(dtype)
    q = p.copy()
    functional.sgd([p], [g], None, 1, lr=0.5)
    reference.sgd([q], [g], None, 1, lr=0.5)
    assert np.all(p.view(uint) == want_bits), [hex(b) for b in np.unique(p.view(uint))]
    assert np.array_equal(p.view(uint), q.view(uint))


def test_import_and_steps_do_not_set_flush_to_zero():
    """In a fresh process: importing fastopt and stepping on every ISA path leave the
    process's floating-point mode alone (NumPy still makes and reads subnormals). A build
    with -ffast-math sets FTZ/DAZ for the whole process when the extension loads."""
    tiny = np.array([1e-39], np.float32)
    assert (tiny * np.float32(0.5))[0] != 0
    out = _run("import numpy as np, fastopt\n"
               "from fastopt import _kernels\n"
               "for isa in _kernels.available_isas():\n"
               "    _kernels._set_isa(isa)\n"
               "    x = np.array([1e-39] * 4099, np.float32)\n"
               "    fastopt.Adagrad([x], lr=1e-3).step([np.ones(4099, np.float32)])\n"
               "    fastopt.SGD([x], lr=0.5).step([np.full(4099, 1e-39, np.float32)])\n"
               "s = np.array([2.0 ** -130], np.float32)\n"
               "print(bool((s * np.float32(0.5))[0] != 0),\n"      # FTZ: a subnormal product
               "      bool((s + np.float32(0.0))[0] == s[0]),\n"   # DAZ: a subnormal input
               "      bool(np.nextafter(0., 1.) > 0))")
    assert out.stdout.split() == ["True", "True", "True"]


# ---- contraction off, seen in the results ---------------------------------------------------

#: lr, g, p for which p - lr * g gives +0.0 when lr * g is rounded first (it rounds to p),
#: and a tiny negative number (the product's lost bits) when fused into one multiply-add.
_CONTRACTION = {
    np.float32: (1 + 2.0 ** -12, 1 + 2.0 ** -12, 1 + 2.0 ** -11),
    np.float64: (1 + 2.0 ** -27, 1 + 2.0 ** -27, 1 + 2.0 ** -26),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", [61, 4096 + 61])
def test_results_are_unfused_on_every_isa_path(dtype, n, isa):
    """SGD's p - lr * g and Adagrad's s + g * g where a fused multiply-add gives other bits:
    every lane of the vector blocks and of the plain loop gives the unfused result, which
    is the reference's."""
    lr, gv, pv = _CONTRACTION[dtype]
    assert Fraction(pv) - Fraction(lr) * Fraction(gv) != 0            # fused: not zero
    assert dtype(pv) - dtype(lr) * dtype(gv) == 0                     # unfused: zero
    g = np.full(n, gv, dtype)
    p, q = np.full(n, pv, dtype), np.full(n, pv, dtype)
    functional.sgd([p], [g], None, 1, lr=lr)
    reference.sgd([q], [g], None, 1, lr=lr)
    assert np.all(p == 0) and not np.signbit(p).any()
    assert np.array_equal(p, q)
    # Adagrad: s + g * g from s = -round(g * g): +0.0 unfused, the product's tail if fused
    s = np.full(n, -(dtype(gv) * dtype(gv)), dtype)
    t = s.copy()
    p, q = np.ones(n, dtype), np.ones(n, dtype)
    functional.adagrad([p], [g], [s], 1, lr=1e-3, eps=1.0)
    reference.adagrad([q], [g], [t], 1, lr=1e-3, eps=1.0)
    assert np.all(s == 0) and not np.signbit(s).any()
    assert np.array_equal(s, t) and np.array_equal(p, q)


# ---- what the compiled code contains --------------------------------------------------------

def _disassembly():
    """{function name: [instruction, ...]} of the extension, from objdump (skip without)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the disassembly checks read an x86-64 ELF")
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump is not installed")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", _kernels.__file__],
                         capture_output=True, text=True, check=True).stdout
    functions, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = functions.setdefault(m.group(1), [])
        elif current is not None and "\t" in line:
            ins = line.split("\t", 1)[1].strip()
            if ins:
                current.append(ins)
    assert sum(map(len, functions.values())) > 10, "objdump found no code"
    return functions


def test_no_fused_multiply_add_anywhere_in_the_extension():
    """Contraction is off: no a * b + c is fused, on any ISA path. The AVX-512 target
    implies FMA, so a build with contraction on fuses there (and on AVX2 if its target
    gained fma), and those paths stop matching the reference bit for bit; this machine may
    not run AVX-512, but its code is in the extension."""
    fused = {name: [i for i in ins if re.match(r"v?f(n)?m(add|sub)", i.split()[0])][:3]
             for name, ins in _disassembly().items()}
    fused = {name: i for name, i in fused.items() if i}
    assert not fused, fused


def test_nothing_in_the_extension_writes_the_floating_point_mode():
    """No ldmxcsr (the instruction that sets FTZ/DAZ and the rounding mode): not in the
    kernels, and not from -ffast-math's crtfastmath.o, which sets FTZ/DAZ when loaded."""
    writes = {name: [i for i in ins if "ldmxcsr" in i] for name, ins in _disassembly().items()}
    writes = {name: i for name, i in writes.items() if i}
    assert not writes, writes


def _is_avx(ins):
    """A VEX/EVEX-encoded instruction: its mnemonic starts with v, or it names ymm/zmm."""
    return ins.split()[0].startswith("v") or "%ymm" in ins or "%zmm" in ins


def test_avx_instructions_only_in_the_avx_paths():
    """Only functions of the AVX2 / AVX-512 paths (called after the CPU check) hold AVX
    instructions: the baseline path, the dispatch and the Cython boundary run on any x86-64
    CPU. -march=native or -mavx2 on the extension would put AVX everywhere (SIGILL on an
    older CPU, even with FASTOPT_ISA=baseline)."""
    functions = _disassembly()
    if not any(name.endswith("_baseline") for name in functions):
        pytest.skip("the extension is stripped: no function names to attribute code to")
    avx = {name: [i for i in ins if _is_avx(i)][:3] for name, ins in functions.items()}
    avx = {name: i for name, i in avx.items() if i}
    outside = {name: i for name, i in avx.items() if not re.search(r"_avx(2|512)(_|$)", name)}
    assert not outside, outside
    assert any(name.endswith("_avx2") for name in avx), "no AVX2 path found"


# ---- the ISA paths and the configuration ----------------------------------------------------

def test_default_isa_is_the_widest_up_to_avx2_and_for_half_storage_the_widest():
    available = _kernels.available_isas()
    want = "avx2" if "avx2" in available else "baseline"
    assert _kernels.default_isa() == want
    assert _kernels.default_half_isa() == available[-1] == _kernels.best_isa()
    out = _run("from fastopt import _kernels; print(*_kernels.isa_paths())",
               FASTOPT_ISA="")
    assert out.stdout.split() == [want, available[-1]]


def test_isa_paths():
    available = _kernels.available_isas()
    assert available[0] == "baseline"
    assert set(available) <= set(_kernels.compiled_isas())
    assert _kernels.current_isa() in available
    with pytest.raises(ValueError, match="unknown ISA"):
        _kernels._set_isa("sse9")
    before = _kernels.isa_paths()
    with pytest.raises(ValueError, match="unknown ISA"):
        _kernels._set_isa("baseline", half="sse9")
    assert _kernels.isa_paths() == before   # (checked before either is switched)
    missing = [i for i in _kernels.ISA_NAMES if i not in available]
    for name in missing:
        with pytest.raises(ValueError, match="not available"):
            _kernels._set_isa(name)


@pytest.mark.parametrize("path", _kernels.available_isas())
def test_fastopt_isa_env_forces_a_path(path):
    """FASTOPT_ISA sets one path for everything, half-precision storage too."""
    out = _run("from fastopt import _kernels; print(*_kernels.isa_paths())", FASTOPT_ISA=path)
    assert out.stdout.split() == [path, path]


def test_fastopt_isa_env_unknown_or_unavailable_warns_and_uses_best():
    out = _run("import warnings; warnings.simplefilter('always')\n"
               "from fastopt import _kernels; print(_kernels.current_isa())",
               FASTOPT_ISA="quantum")
    assert out.stdout.strip() == _kernels.default_isa()
    assert "FASTOPT_ISA='quantum'" in out.stderr


def test_show_config(capsys):
    fastopt.show_config()
    text = capsys.readouterr().out
    assert fastopt.__version__ in text
    assert f"ISA path in use : {_kernels.current_isa()}" in text
    assert f"half precision  : {_kernels.current_half_isa()}" in text
    assert f"compile flags   : {_kernels.BUILD_FLAGS}" in text
    assert "threads" in text


def test_import_fastopt_does_not_import_torch():
    out = _run("import sys, fastopt; print('torch' in sys.modules)")
    assert out.stdout.strip() == "False"
