"""fastopt.torch as a package: optional, never imported by ``import fastopt``, never shadowing
the real torch, and a clear ImportError without torch."""
import os
import subprocess
import sys

import fastopt
from conftest import torch_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastopt.__file__)))


def _run(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=os.path.dirname(os.path.abspath(__file__)))


def test_without_torch_fastopt_works_and_fastopt_torch_says_why():
    # sys.modules["torch"] = None makes "import torch" fail as if torch were not installed
    out = _run("import sys; sys.modules['torch'] = None\n"
               "import numpy as np, fastopt\n"
               "w = np.zeros(3, np.float32); fastopt.Adagrad([w]).step([np.ones(3, np.float32)])\n"
               "try:\n"
               "    import fastopt.torch\n"
               "except ImportError as e:\n"
               "    print('ImportError:', e)\n")
    assert out.returncode == 0, out.stderr
    assert "ImportError: fastopt.torch needs PyTorch" in out.stdout
    assert "pip install" in out.stdout


def test_import_fastopt_does_not_import_torch_even_with_it_installed():
    torch_or_skip()
    out = _run("import sys, fastopt, fastopt.optim, fastopt.functional, fastopt.reference\n"
               "print('torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_subpackage_does_not_shadow_torch():
    torch = torch_or_skip()
    import fastopt.torch
    from fastopt.torch import _base, adagrad
    assert _base.torch is torch and adagrad.torch is torch
    assert fastopt.torch is not torch and fastopt.torch.__name__ == "fastopt.torch"
    assert set(fastopt.torch.__all__) >= {"Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta",
                                          "Adam", "AdamW"}
    assert issubclass(fastopt.torch.Adagrad, torch.optim.Optimizer)
    # the NumPy optimizer of the same name is untouched
    assert fastopt.Adagrad is not fastopt.torch.Adagrad
