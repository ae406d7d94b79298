"""An optimizer's step as every front end builds it: the per-algorithm step builder.

Each algorithm module (``fastopt/optim/<name>.py``) makes one :class:`Algorithm` from its
kernel names and its *hyper translation*: a function from a group of settings (a dict with
the optimizer's argument names: ``lr``, ``betas``, ...) to the kernel's named scalars (a dict
keyed by the names in ``src_c/kernels/registry.h``), which checks every value and raises
ValueError for invalid ones. The three front ends then share it:

- ``fastopt.functional.<name>(params, grads, <state lists>, steps, **settings)`` is
  ``ALGORITHM.functional(...)``;
- the NumPy optimizer objects (``fastopt.optim._base.Optimizer``) call ``hyper`` once per
  group, then ``add`` per param, on one :class:`fastopt._kernels.Plan`;
- ``fastopt.torch`` does the same with ``add_raw`` on its tensors' memory.

They differ only in how they find their buffers. A step is three phases (see
``fastopt/_plan.pxi``): every Python value converted, every buffer checked, one C call.
"""
from fastopt import _kernels, _scalars
from fastopt.optim import _half


class Algorithm:
    """One algorithm's kernels and hyper translation.

    Args:
        name: the algorithm's name, for messages ("Adagrad").
        kernel: the dense kernel's registry name, or None (row kernel only).
        hyper: ``settings -> kernel scalars`` for the dense kernel (or, with no dense kernel,
            for a dense gradient run through the row kernel: every row).
        row_kernel: the row kernel's registry name for :class:`fastopt.SparseRows`
            gradients, or None.
        row_hyper: ``settings -> row kernel scalars``; raises (ValueError, or TypeError) for
            what the row step cannot do (e.g. Adagrad's weight decay).
        dense_grads: False if dense gradients are refused (SparseAdam, as torch).
    """

    def __init__(self, name, *, kernel=None, hyper=None, row_kernel=None, row_hyper=None,
                 dense_grads=True):
        self.name = name
        self.kernel = _kernels.kernel(kernel) if kernel else None
        self.row_kernel = _kernels.row_kernel(row_kernel) if row_kernel else None
        self.hyper = hyper
        self.row_hyper = row_hyper
        self.dense_grads = dense_grads
        #: the kernel dense gradients run through, and its state buffers (registry order)
        self.dense = self.kernel or self.row_kernel
        self.state_names = self.dense.state_names
        #: the state that is one number per param (registry "x:scalar"), e.g. mu_product
        self.scalar_state = tuple(n for n, one in zip(self.state_names, self.dense.scalar)
                                  if one)
        self._settings = _kernels.SettingsCache()

    def __repr__(self):
        return f"<fastopt algorithm {self.name}: {self.kernel}, rows {self.row_kernel}>"

    # ---- per param ----

    def route(self, grad):
        """``(kernel, sparse)`` for a gradient: which kernel runs it; raises TypeError for a
        gradient this algorithm does not take (naming no param: callers add that)."""
        if type(grad) is _kernels.SparseRows:
            if self.row_kernel is None:
                raise TypeError(f"{self.name} does not take SparseRows gradients; row-sparse "
                                f"steps are supported by Adagrad, SGD (no momentum), "
                                f"RowwiseAdagrad and SparseAdam")
            return self.row_kernel, True
        if not self.dense_grads:
            raise TypeError(f"{self.name} does not take dense gradients (as torch); pass "
                            f"fastopt.SparseRows")
        return self.dense, False

    def scalars(self, settings, sparse):
        """The kernel's scalars for a group of settings (row kernel if ``sparse``)."""
        return self.row_hyper(settings) if sparse else self.hyper(settings)

    def _cached_scalars(self, settings, sparse):
        """scalars() as a :class:`fastopt._kernels.Scalars`, reused while the settings are
        the very same objects as at the last call (the functional steps' per-call cost)."""
        return self._settings.get(sparse, settings,
                                  self.row_kernel if sparse else self.dense,
                                  self.scalars, (settings, sparse))

    # ---- fastopt.functional ----

    def functional(self, params, grads, buffers, steps, settings, masters=None, seed=0):
        """One step over lists, in place: ``buffers`` maps each state name of the kernel
        the grads take to a list with one array per param (or None, for a buffer that the
        settings switch off); ``masters`` (a list with each half param's float32 master
        weights, or None entries) and ``seed`` (bfloat16 state's stochastic rounding) as in
        :func:`fastopt.reference.half_step`."""
        if type(params) is not list:
            params = _as_list(params, "params")
        if type(grads) is not list:
            grads = _as_list(grads, "grads")
        k = len(params)
        if len(grads) != k:
            raise ValueError(f"fastopt: {len(grads)} grads for {k} params")
        if masters is not None:
            masters = _as_list(masters, "masters")
            if len(masters) != k:
                raise ValueError(f"fastopt: {len(masters)} masters for {k} params")
        if type(seed) is not int or seed != 0:
            seed = _half.check_seed(seed)
        # phase 1: every Python value
        if type(steps) is int and 1 <= steps <= _TWO_53:
            step_list = None
        else:
            step_list = _scalars.steps(steps, k)
        kernel = self.kernel
        if kernel is not None and _kernels.step_lists(
                kernel, params, grads, buffers, self._settings, settings, self.scalars,
                steps if step_list is None else step_list, masters, seed):
            return   # dense grads, one dense kernel: the whole step in one call
        lists = {}
        for name, lst in buffers.items():
            if lst is None:
                lists[name] = (None,) * k
            else:
                if type(lst) is not list:
                    lst = _as_list(lst, "the " + name + " list")
                if len(lst) != k:
                    raise ValueError(f"fastopt: {len(lst)} {name} buffers for {k} params")
                lists[name] = lst
        plan = _kernels.Plan(k)
        handles = {}
        routes = []
        for i, g in enumerate(grads):
            try:
                kernel, sparse = self.route(g)
            except TypeError as e:
                raise TypeError(f"fastopt: param {i}: {_message(e)}") from None
            if sparse not in handles:
                handles[sparse] = plan.hyper(kernel, self._cached_scalars(settings, sparse))
            routes.append((kernel, sparse))
        # phase 2: every buffer; phase 3: the write
        for i in range(k):
            kernel, sparse = routes[i]
            names = kernel.state_names
            bufs = ((lists[names[0]][i],) if len(names) == 1 else
                    tuple([lists[name][i] for name in names]))
            plan.add(kernel, i, params[i], grads[i], bufs, handles[sparse],
                     steps if step_list is None else step_list[i],
                     None if masters is None else masters[i], seed)
        plan.run()


_TWO_53 = 2 ** 53


def _as_list(seq, what):
    if type(seq) is list:
        return seq
    if seq is None or isinstance(seq, (str, bytes, dict)) or hasattr(seq, "__array__"):
        raise TypeError(f"fastopt: {what} must be a list with one entry per param")
    return list(seq)


def _message(e):
    text = str(e)
    return text[len("fastopt: "):] if text.startswith("fastopt: ") else text
