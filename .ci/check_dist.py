"""Check what `python -m build` and `auditwheel repair` made: the sdist and the wheel.

    python .ci/check_dist.py PATH...   (a .whl, a .tar.gz, or a directory: every one in it)

An sdist (.tar.gz) fails unless it holds every file git tracks under fastopt/, src_c/, tests/,
bench/ and examples/, and setup.py, pyproject.toml, README.md, LICENSE (run from the git
checkout it was built from), and no generated file (Cython's fastopt/_kernels.c, objects,
extensions, caches).

A wheel fails (exit 1, saying why) unless:
  - ``auditwheel show`` finds the wheel consistent with the manylinux tag in its file name
    (so every library it needs outside the wheel is one the manylinux policy allows);
  - it holds only fastopt/ (Python modules and the one extension), fastopt.libs/ (the OpenMP
    runtime, bundled and renamed by auditwheel repair) and its .dist-info; no build input
    (.pyx, .pxd, .pxi, .c, .h), no tests;
  - the extension carries no DWARF debug sections (setup.py builds with -g0) and needs
    nothing outside libc and the bundled libraries.
Prints the wheel's size and contents summary.
"""
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

BUILD_INPUTS = (".pyx", ".pxd", ".pxi", ".c", ".h")
SDIST_TREES = ("fastopt/", "src_c/", "tests/", "bench/", "examples/")
SDIST_FILES = ("setup.py", "pyproject.toml", "README.md", "LICENSE")
GENERATED = ("fastopt/_kernels.c",)
GENERATED_ENDINGS = (".so", ".o", ".pyd", ".pyc", ".pyo")
SYSTEM_LIBS = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
               "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def fail(msg):
    sys.exit(f"check_dist: {msg}")


def check_sdist(sdist):
    """The sdist holds the tracked sources a build and its checks need, and nothing made."""
    with tarfile.open(sdist) as t:
        names = [m.name.split("/", 1)[1] for m in t.getmembers() if m.isfile() and "/" in m.name]
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    want = [f for f in tracked if f.startswith(SDIST_TREES) or f in SDIST_FILES]
    missing = sorted(set(want) - set(names))
    if missing:
        fail(f"{os.path.basename(sdist)} lacks {missing}")
    made = [n for n in names if n in GENERATED or n.endswith(GENERATED_ENDINGS)
            or "__pycache__" in n]
    if made:
        fail(f"{os.path.basename(sdist)} holds generated files: {made}")
    print(f"check_dist: {os.path.basename(sdist)}: {os.path.getsize(sdist) / 1e6:.2f} MB, "
          f"{len(names)} files, every tracked source of {', '.join(SDIST_TREES)} among them")


def check_wheel(wheel):
    name = os.path.basename(wheel)
    tags = re.search(r"-(manylinux[\w.]+)\.whl$", name)
    if not tags:
        fail(f"{name} has no manylinux platform tag (was it repaired?)")
    show = subprocess.run(["auditwheel", "show", wheel], capture_output=True, text=True)
    text = " ".join(show.stdout.split())
    said = re.search(r'consistent with the following platform tag: "([^"]+)"', text)
    if show.returncode or not said:
        fail(f"auditwheel show failed or found no tag:\n{show.stdout}{show.stderr}")
    if said.group(1) not in tags.group(1).split("."):
        fail(f"auditwheel show says {said.group(1)}, the file name says {tags.group(1)}")

    with zipfile.ZipFile(wheel) as z:
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        top = {n.split("/")[0] for n in names}
        extra = {t for t in top if t not in ("fastopt", "fastopt.libs")
                 and not t.endswith(".dist-info")}
        if extra:
            fail(f"unexpected top-level entries: {sorted(extra)}")
        inputs = [n for n in names if n.endswith(BUILD_INPUTS)]
        if inputs:
            fail(f"build inputs in the wheel: {inputs}")
        exts = [n for n in names if n.startswith("fastopt/") and ".so" in n]
        libs = [n for n in names if n.startswith("fastopt.libs/")]
        if len(exts) != 1:
            fail(f"expected one extension, found {exts}")
        with tempfile.TemporaryDirectory() as d:
            so = z.extract(exts[0], d)
            sections = subprocess.run(["readelf", "-S", "-W", so], capture_output=True,
                                      text=True, check=True).stdout
            if ".debug_info" in sections:
                fail(f"{exts[0]} carries DWARF debug sections")
            dynamic = subprocess.run(["readelf", "-d", so], capture_output=True, text=True,
                                     check=True).stdout
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
        bundled = {os.path.basename(n) for n in libs}
        outside = [n for n in needed if n not in SYSTEM_LIBS and n not in bundled]
        if outside:
            fail(f"the extension needs {outside}, neither system libraries nor bundled")
        sizes = {i.filename: i.file_size for i in z.infolist()}
    print(f"check_dist: {name}: {os.path.getsize(wheel) / 1e6:.2f} MB "
          f"({sum(sizes.values()) / 1e6:.2f} MB unpacked); tag {said.group(1)}; "
          f"extension {sizes[exts[0]] / 1e6:.2f} MB, needs {', '.join(needed)}; "
          f"bundled: {', '.join(sorted(bundled)) or 'nothing'}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    paths = []
    for where in sys.argv[1:]:
        paths += ([os.path.join(where, f) for f in sorted(os.listdir(where))
                   if f.endswith((".whl", ".tar.gz"))] if os.path.isdir(where) else [where])
    if not paths:
        fail(f"nothing to check in {sys.argv[1:]}")
    for path in paths:
        check_sdist(path) if path.endswith(".tar.gz") else check_wheel(path)
