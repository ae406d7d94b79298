"""Process-wide numerics stay as they were; the build and the dispatch are what they claim."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastopt
from fastopt import _kernels


def _run(code, **env):
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                         cwd=os.path.dirname(__file__))
    assert out.returncode == 0, out.stderr
    return out


def test_import_does_not_set_flush_to_zero():
    tiny = np.array([1e-39], np.float32)
    assert (tiny * np.float32(0.5))[0] != 0
    out = _run("import numpy as np, fastopt\n"
               "x = np.array([1e-39], np.float32)\n"
               "fastopt.Adagrad([x], lr=1e-3).step([np.ones(1, np.float32)])\n"
               "print(np.float32(1e-39) * np.float32(0.5) != 0, np.nextafter(0., 1.) > 0)")
    assert out.stdout.split() == ["True", "True"]


def test_build_flags_are_safe():
    flags = _kernels.BUILD_FLAGS.split()
    assert "-ffp-contract=off" in flags or sys.platform == "win32"
    assert not any(f in flags for f in ("-ffast-math", "-Ofast", "-march=native", "-mavx2"))


def test_default_isa_is_the_widest_up_to_avx2():
    available = _kernels.available_isas()
    want = "avx2" if "avx2" in available else "baseline"
    assert _kernels.default_isa() == want
    out = _run("from fastopt import _kernels; print(_kernels.current_isa())")
    assert out.stdout.strip() == want


def test_isa_paths():
    available = _kernels.available_isas()
    assert available[0] == "baseline"
    assert set(available) <= set(_kernels.compiled_isas())
    assert _kernels.current_isa() in available
    with pytest.raises(ValueError, match="unknown ISA"):
        _kernels._set_isa("sse9")
    missing = [i for i in _kernels.ISA_NAMES if i not in available]
    for name in missing:
        with pytest.raises(ValueError, match="not available"):
            _kernels._set_isa(name)


@pytest.mark.parametrize("path", _kernels.available_isas())
def test_fastopt_isa_env_forces_a_path(path):
    out = _run("from fastopt import _kernels; print(_kernels.current_isa())", FASTOPT_ISA=path)
    assert out.stdout.strip() == path


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
    assert "-ffp-contract=off" in text or sys.platform == "win32"
    assert "threads" in text


def test_import_fastopt_does_not_import_torch():
    out = _run("import sys, fastopt; print('torch' in sys.modules)")
    assert out.stdout.strip() == "False"
