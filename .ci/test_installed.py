"""Run fastopt's tests against the fastopt installed in this Python, never a source tree.

    python .ci/test_installed.py [--via "CMD ..."] SOURCE_TREE [pytest args...]

--via runs pytest's Python under CMD (for example ``--via "qemu-x86_64 -cpu Nehalem"``: the
tests then run on that emulated CPU; a subprocess they start runs natively).

Used by .ci/run (in a fresh venv holding the repaired wheel, natively and under qemu's CPU
models) and by cibuildwheel's test-command (pyproject.toml). It:
  1. checks the installed package: it is not a source tree and ships no build inputs (.pyx,
     .pxd, .pxi, .c, .h): what a wheel needs and nothing more;
  2. copies tests/ and examples/ (tests/test_examples.py runs them) and pyproject.toml (the
     pytest settings) from SOURCE_TREE into a fresh temporary directory;
  3. runs pytest there with FASTOPT_TEST_INSTALLED=1 (tests/conftest.py then refuses a fastopt
     imported from a source tree) and returns pytest's exit code, except that 5 (no tests
     collected) is a failure: fastopt always has tests.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

BUILD_INPUTS = (".pyx", ".pxd", ".pxi", ".c", ".h")


def check_installed():
    """The fastopt this Python imports: (its directory); exits if it is not a clean install."""
    out = subprocess.run(
        [sys.executable, "-c", "import fastopt, os; print(os.path.dirname(fastopt.__file__))"],
        capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        sys.exit(f"test_installed: fastopt does not import:\n{out.stderr}")
    package = out.stdout.strip()
    root = os.path.dirname(package)
    if any(os.path.exists(os.path.join(root, f)) for f in ("setup.py", "src_c")):
        sys.exit(f"test_installed: fastopt is imported from a source tree ({root})")
    shipped = [os.path.relpath(os.path.join(d, f), root)
               for d, _, files in os.walk(package) for f in files if f.endswith(BUILD_INPUTS)]
    if shipped:
        sys.exit(f"test_installed: the installed package ships build inputs: {shipped}")
    return package


def main(argv):
    via = []
    if argv[:1] == ["--via"] and len(argv) > 1:
        via, argv = shlex.split(argv[1]), argv[2:]
    if not argv:
        sys.exit(__doc__)
    source, pytest_args = os.path.abspath(argv[0]), argv[1:]
    package = check_installed()
    print(f"test_installed: fastopt from {package}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fastopt-installed-") as where:
        for name in ("tests", "examples"):
            shutil.copytree(os.path.join(source, name), os.path.join(where, name),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(os.path.join(source, "pyproject.toml"), where)
        env = dict(os.environ, FASTOPT_TEST_INSTALLED="1")
        rc = subprocess.call([*via, sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                              *pytest_args], cwd=where, env=env)
    if rc == 5:
        print("test_installed: pytest collected no tests (exit 5): a failure here",
              file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
