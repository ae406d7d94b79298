# ---- the front ends' common steps, whole in C: lists (functional) and groups (NumPy objects)
#
# The same three phases as any plan (see _plan.pxi), for the per-call cost of a small step:
# each returns False, having done nothing, for what only its caller's general path handles
# (a SparseRows grad, a buffer to create, a step count to convert); that path then runs and
# reports any error by the same rules.


def step_lists(Kernel kernel, list params, list grads, dict buffers, SettingsCache cache,
               dict settings, translate, steps, list masters=None, uint64_t seed=0):
    """A functional step over lists with one dense kernel: ``buffers`` maps each state name
    of the kernel to a list (or None); the kernel's scalars come from ``cache`` (key False)
    or ``translate(settings, False)``; ``steps`` is one int for all or a list of ints
    (converted by the caller); ``masters`` (None, or a list with an entry per param) and
    ``seed`` as :meth:`Plan.add` takes them. The same three phases as any plan, for the
    functional steps' per-call cost. Returns False, doing nothing, if a grad is a SparseRows (the caller's
    general path routes those)."""
    cdef Py_ssize_t k = len(params), i, j, ns = kernel.n_state
    cdef list lists = [None] * ns
    if len(grads) != k:
        raise ValueError(f"fastopt: {len(grads)} grads for {k} params")
    for i in range(k):
        if type(grads[i]) is SparseRows:
            return False
    for j in range(ns):
        lst = buffers.get(kernel.state_names[j])
        if lst is not None and type(lst) is not list and type(lst) is not tuple:
            raise TypeError(f"fastopt: the {kernel.state_names[j]} list must be a list with "
                            f"one entry per param")
        if lst is not None and len(lst) != k:
            raise ValueError(f"fastopt: {len(lst)} {kernel.state_names[j]} buffers for "
                             f"{k} params")
        lists[j] = lst
    cdef bint shared = type(steps) is int
    if not shared and len(steps) != k:
        raise ValueError(f"fastopt: {len(steps)} step counts for {k} params")
    cdef Scalars scalars = cache.get(False, settings, kernel, translate, (settings, False))
    cdef Plan plan = Plan(k if k else 1)
    cdef Py_ssize_t h = plan.hyper(kernel, scalars)
    cdef tuple bufs
    for i in range(k):
        if ns == 1:
            one = lists[0]
            bufs = (None if one is None else one[i],)
        else:
            bufs = tuple([None if lists[j] is None else lists[j][i] for j in range(ns)])
        plan.add(kernel, i, params[i], grads[i], bufs, h, steps if shared else steps[i],
                 None if masters is None else masters[i], seed)
    plan.run()
    return True


def step_groups(Kernel kernel, list groups, list grads, dict state, SettingsCache cache,
                translate, uint64_t seed=0):
    """A NumPy optimizer's step (fastopt/optim/_base.py) when every grad is an array or None
    for the dense ``kernel`` and every stepped param's state holds its buffers and an int
    step: ``state`` maps a param's index across ``groups`` to its state dict; the scalars of
    group ``gi`` come from ``cache`` (key ``(gi, False)``) or ``translate(group, gi,
    False)``; a state's ``master`` (float32 master weights) and ``seed`` go to the plan
    (Plan.add). Returns False, doing nothing, otherwise."""
    cdef Py_ssize_t gi, i = 0, j, ns = kernel.n_state, k = len(grads), n = 0
    cdef PyObject *found
    cdef object st, step
    cdef list adds = []
    cdef Scalars scalars
    for group in groups:
        n += len((<dict?>group)["params"])
    if n != k:
        return False
    cdef Plan plan = Plan(k if k else 1)
    # phase 1: every setting, step count and buffer
    for gi in range(len(groups)):
        group = groups[gi]
        h = -1
        for p in (<dict>group)["params"]:
            g = grads[i]
            if g is None:
                i += 1
                continue
            if type(g) is SparseRows:
                return False
            found = PyDict_GetItem(state, i)
            if found == NULL or type(<object>found) is not dict:
                return False
            st = <object>found
            step = (<dict>st).get("step")
            if type(step) is not int or not 0 <= step < 9007199254740992:
                return False
            if h < 0:
                try:
                    scalars = cache.get((gi, False), group, kernel, translate,
                                        (group, gi, False))
                except Exception:
                    return False   # the general path raises it, naming the param
                h = plan.hyper(kernel, scalars)
            if ns == 1:
                bufs = ((<dict>st).get(kernel.state_names[0]),)
            else:
                bufs = tuple([(<dict>st).get(kernel.state_names[j]) for j in range(ns)])
            for j in range(ns):
                if bufs[j] is None and plan._uses(kernel, h, <int>j, cnp.PyArray_NDIM(
                        <cnp.ndarray>p) if cnp.PyArray_Check(p) else 1):
                    return False   # a flag switched on: the general path makes the buffer
            adds.append((i, p, g, bufs, h, step + 1, st))
            i += 1
    # phase 2: every buffer; phase 3: the write
    for a in adds:
        plan.add(kernel, a[0], a[1], a[2], a[3], a[4], a[5], (<dict>a[6]).get("master"), seed)
    plan.run()
    for a in adds:
        (<dict>a[6])["step"] = a[5]
    return True
