# ---- kernel scalars, made once and reused while the settings stay the same -----------------

cdef enum:
    MAX_HYPER = 16


cdef int _pack_hyper(Kernel kernel, dict values, double *out) except -1:
    """Fill ``out`` (the kernel's C struct of doubles) from ``values``, keyed by the kernel's
    hyper-parameter names: floats, ints or bools that a front end's translation made."""
    cdef Py_ssize_t j, nh = kernel.n_hyper
    cdef PyObject *item
    cdef object v
    if len(values) != kernel.n_given:
        raise RuntimeError(f"fastopt: kernel {kernel.name!r} takes hyper-parameters "
                           f"{kernel.hyper_names[:kernel.n_given]}, got {tuple(values)}")
    for j in range(nh):
        if j >= kernel.n_given:
            out[j] = 0.0   # rows, cols: the plan fills them per param (registry.h)
            continue
        item = PyDict_GetItem(values, kernel.hyper_names[j])
        if item == NULL:
            raise RuntimeError(f"fastopt: kernel {kernel.name!r} takes hyper-parameters "
                               f"{kernel.hyper_names}, got {tuple(values)}")
        v = <object>item
        if type(v) is float:
            out[j] = <double>v
        elif type(v) is bool or type(v) is int:
            out[j] = 1.0 if v is True else (0.0 if v is False else <double>v)
        else:
            raise RuntimeError(f"fastopt: hyper-parameter {kernel.hyper_names[j]!r} of "
                               f"kernel {kernel.name!r} reached the plan as "
                               f"{type(v).__name__}; front ends convert to float first")
    return 0


@cython.final
cdef class Scalars:
    """One kernel's hyper-parameters, converted: ``values`` (the dict a translation made, by
    name) and the doubles of the kernel's C struct, packed once. :meth:`Plan.hyper` takes
    one in place of the dict."""
    cdef readonly Kernel kernel
    cdef readonly dict values
    cdef double packed[MAX_HYPER]

    def __init__(self, Kernel kernel, dict values):
        if kernel.n_hyper > MAX_HYPER:
            raise RuntimeError(f"fastopt: kernel {kernel.name!r} has more than {MAX_HYPER} "
                               f"hyper-parameters")
        _pack_hyper(kernel, values, self.packed)
        self.kernel = kernel
        self.values = dict(values)

    def __getitem__(self, name):
        return self.values[name]


cdef object _NOT_A_SETTING = object()   # stands for a group's "params"
cdef frozenset _IMMUTABLE = frozenset([float, int, bool, str, type(None)])


cdef bint _immutable(object v):
    if type(v) in _IMMUTABLE:
        return True
    if type(v) is tuple:
        for x in <tuple>v:
            if type(x) not in _IMMUTABLE:
                return False
        return True
    return False


@cython.final
cdef class SettingsCache:
    """Translated settings per key (say a param group, dense or row-sparse), reused while
    every setting is the very same object as when they were translated.

    ``get(key, settings, kernel, translate, args)`` returns a :class:`Scalars` for
    ``translate(*args)`` (which checks and converts ``settings``, a dict; its ``"params"``
    entry is not a setting). The result is kept only if every setting is immutable (numbers,
    bools, strings, None, tuples of those): then the same objects mean the same values, and
    the translation, which would give the same result or the same error, is skipped. A
    scheduler that sets a new lr makes the settings differ, and the next get translates.
    """
    cdef dict entries     # key -> (tuple of the settings' names and objects, Scalars)

    def __init__(self):
        self.entries = {}

    def __reduce__(self):
        return (SettingsCache, ())   # a copy starts empty

    cpdef Scalars get(self, key, dict settings, Kernel kernel, translate, tuple args):
        cdef PyObject *found = PyDict_GetItem(self.entries, key)
        cdef tuple seen
        cdef Py_ssize_t pos = 0, j = 0, n
        cdef PyObject *k
        cdef PyObject *v
        if found != NULL:
            # a hit: the same names (the same string objects) with the same values, in order
            seen = <tuple>(<tuple>(<object>found))[0]
            n = len(seen)
            while PyDict_Next(settings, &pos, &k, &v):
                if j + 1 >= n or <PyObject *>seen[j] != k:
                    break
                if <PyObject *>seen[j + 1] != v and seen[j + 1] is not _NOT_A_SETTING:
                    break
                j += 2
            else:
                if j == n:
                    return (<tuple>(<object>found))[1]
        cdef Scalars scalars = Scalars(kernel, translate(*args))
        seen_list = []
        for name, value in settings.items():
            seen_list.append(name)
            if name == "params":
                seen_list.append(_NOT_A_SETTING)
            elif _immutable(value):
                seen_list.append(value)
            else:
                self.entries.pop(key, None)
                return scalars
        if len(self.entries) > 64:
            self.entries.clear()
        self.entries[key] = (tuple(seen_list), scalars)
        return scalars

    def clear(self):
        self.entries.clear()
