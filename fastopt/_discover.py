"""The public names of a package's modules, so that adding an algorithm adds files, not
export lines: each module lists what it offers in ``__all__``, and the package's
``__init__`` (fastopt.optim, fastopt.reference, fastopt.torch) and fastopt.functional
collect them here, modules in name order."""
import importlib
import pkgutil


def public(package, path, keep=lambda name, obj: True):
    """``{name: object}`` from the ``__all__`` of every module of ``package`` (at ``path``)
    whose name does not start with ``_``, filtered by ``keep``."""
    found = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if keep(name, obj):
                if name in found and found[name] is not obj:
                    raise ImportError(f"{package}: {name} is defined twice")
                found[name] = obj
    return found
