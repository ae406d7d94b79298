"""The examples in the docstrings run, and check what they say.

Every optimizer class in ``fastopt.__all__`` and every function in
``fastopt.functional.__all__`` must have an ``Example`` section whose every line is a doctest
example or its expected output, at least one of them with output that is really compared
(not only ``...``); each example runs (none skipped) from an empty namespace, as a reader
would paste it, and passes. A docstring whose section was never collected, or that only
shows code, fails here. The lists come from ``__all__``, so a new optimizer cannot be left
out. Then every module of the package runs its docstring examples (all of them, none
failing).
"""
import doctest
import importlib
import pkgutil
import re

import pytest

import fastopt
import fastopt.functional
from cases import CASES

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

OPTIMIZERS = [name for name in fastopt.__all__
              if isinstance(getattr(fastopt, name), type)
              and issubclass(getattr(fastopt, name), fastopt.Optimizer)
              and getattr(fastopt, name) is not fastopt.Optimizer]
FUNCTIONS = list(fastopt.functional.__all__)
OBJECTS = ([(name, getattr(fastopt, name)) for name in OPTIMIZERS]
           + [(f"functional.{name}", getattr(fastopt.functional, name)) for name in FUNCTIONS])

#: Public objects whose docstring has no example yet (this file never adds one): each test
#: below is expected to fail for them, and xfail_strict makes a new example unmissable. Empty:
#: every optimizer and functional step has one, so a new object without one fails here.
NO_EXAMPLE_YET = set()

_HEADER = re.compile(r"^(?P<indent>[ \t]*)Examples?:{1,2}[ \t]*$", re.M)


def test_the_lists_cover_every_optimizer():
    assert set(OPTIMIZERS) == {"ASGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax",
                               "Lamb", "Lion", "NAdam", "RAdam", "RMSprop", "RowwiseAdagrad", "Rprop", "SGD",
                               "SparseAdam"}
    assert {c.cls.__name__ for c in CASES} <= set(OPTIMIZERS)
    assert {c.functional.__name__ for c in CASES} <= set(FUNCTIONS)
    assert len(FUNCTIONS) == 18 and all(callable(getattr(fastopt.functional, f))
                                        for f in FUNCTIONS)
    assert NO_EXAMPLE_YET <= {name for name, _ in OBJECTS}


def example_section(doc):
    """The indented block under the docstring's ``Example::`` header ('' if none)."""
    m = _HEADER.search(doc)
    if m is None:
        return ""
    width = len(m.group("indent").expandtabs())
    lines = []
    for line in doc[m.end():].splitlines()[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= width:
            break
        lines.append(line)
    return "\n".join(lines)


def _checks_output(example):
    """Is the example's expected output compared to something (not only an ellipsis)?"""
    return bool(example.want.strip()) and example.want.strip().replace("...", "") != ""


@pytest.mark.parametrize("name, obj", [
    pytest.param(n, o, id=n, marks=[pytest.mark.xfail(
        strict=True, reason=f"{n} has no Example section in its docstring")]
        if n in NO_EXAMPLE_YET else []) for n, o in OBJECTS])
def test_docstring_example_runs_and_checks_its_output(name, obj):
    check_example(name, obj)


def check_example(name, obj):
    """Raise AssertionError unless obj's Example section runs and checks its output."""
    doc = obj.__doc__ or ""
    section = example_section(doc)
    assert section.strip(), f"{name}: no Example section"
    # every line of the section is an example or its expected output: nothing left unrun
    parsed = doctest.DocTestParser().parse(section, name)
    stray = [part for part in parsed if isinstance(part, str) and part.strip()]
    assert not stray, f"{name}: lines of its Example section are not doctest examples: {stray}"
    in_section = [part for part in parsed if isinstance(part, doctest.Example)]
    assert in_section, f"{name}: its Example section has no >>> example"
    assert any(_checks_output(e) for e in in_section), (
        f"{name}: no example in its Example section has output that is checked")
    # run the docstring's examples from an empty namespace, as a reader would
    tests = doctest.DocTestFinder(recurse=False, exclude_empty=False).find(
        obj, name, module=False, globs={})
    assert len(tests) == 1, name
    test = tests[0]
    assert len(test.examples) >= len(in_section), name
    assert not any(e.options.get(doctest.SKIP) for e in test.examples), f"{name}: +SKIP"
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
    assert result.attempted == len(test.examples), f"{name}: not every example ran"


def _fake(doc):
    def f():
        pass
    f.__doc__ = doc
    return f


GOOD = """Summary.

    Example::

        >>> x = [1, 2]
        >>> len(x)
        2

    Notes follow.
    """

BROKEN = {
    "no section": """Summary, and no example.""",
    "section not run": """Summary.

    Example::

        x = [1, 2]
        len(x)
    """,
    "a line not run": """Summary.

    Example::

        >>> x = [1, 2]
        >>> len(x)
        2

        x.append(3)
    """,
    "no output checked": """Summary.

    Example::

        >>> x = [1, 2]
        >>> x.append(3)
    """,
    "only an ellipsis": """Summary.

    Example::

        >>> print(list(range(3)))
        ...
    """,
    "skipped": """Summary.

    Example::

        >>> len([1, 2])  # doctest: +SKIP
        3
    """,
    "wrong output": """Summary.

    Example::

        >>> len([1, 2])
        3
    """,
    "raises": """Summary.

    Example::

        >>> import no_such_module_fastopt
        >>> 1
        1
    """,
    "needs a name it does not import": """Summary.

    Example::

        >>> np.zeros(2).size
        2
    """,
}


def test_the_check_passes_a_good_example():
    check_example("good", _fake(GOOD))


@pytest.mark.parametrize("what", list(BROKEN))
def test_the_check_fails_a_docstring_whose_example_did_not_run_or_check(what):
    with pytest.raises(AssertionError):
        check_example(what, _fake(BROKEN[what]))


def _modules():
    names = ["fastopt"]
    for info in pkgutil.walk_packages(fastopt.__path__, "fastopt."):
        if info.name.startswith(("fastopt.torch", "fastopt.bench")):
            continue   # fastopt.torch needs torch; fastopt.bench is the report's runner
        names.append(info.name)
    return names


MODULES = _modules()


def test_the_module_list_is_the_package():
    for name in ("fastopt.optim.rowwise_adagrad", "fastopt.optim.sparse_adam",
                 "fastopt.optim.adam", "fastopt.reference.sparse", "fastopt.functional"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples(name):
    """Every docstring example of the module and of what it defines runs and passes (the
    package docstring included); none is skipped."""
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name)
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        assert not any(e.options.get(doctest.SKIP) for e in test.examples), test.name
        result = runner.run(test, out=report.append)
        assert result.attempted == len(test.examples), test.name
    assert runner.failures == 0, "".join(report)
    if name == "fastopt":
        assert sum(len(t.examples) for t in tests) > 0, "the package docstring's example"
