# ---- fastopt.torch's steady step: the last plan again, with only the grads new ---------------
#
# A training loop steps the same params with the same state every time; only the grads are
# new tensors (and the settings change when a scheduler runs). fastopt.torch's full step
# (fastopt/torch/_base.py) reads and checks everything and fills a Plan; when every param in
# it took the dense path, it keeps a SteadyStep made from that plan: each item as the plan
# checked it (param, state buffers, step counter) with the tensors it came from.
#
# SteadyStep.run checks, without writing, that all of that still holds: the same groups and
# params, state dicts and state tensors (by identity) at the same addresses, strides and
# element counts, optional buffers switched on or off as they were; and that each grad is a
# CPU tensor of its param's dtype, shape and strides that lies inside its storage. Then it
# adds copies of the items with the new grads to a new Plan and runs it: the overlap check,
# the step counters and the one C call are the plan's, as in every step. If anything else
# differs (a param without state, a sparse or odd grad, a replaced buffer) it returns None
# having written nothing, and the caller runs the full step, which names what is wrong and
# makes a new SteadyStep. Group settings go through the same SettingsCache and translation
# as the full step's, so they are checked by the same rules.
#
# It reads tensors through torch's own accessors (the getset and method descriptors of
# torch._C.TensorBase that ``t.grad``, ``t.data_ptr()``, ... find), called straight from C:
# that skips Python's attribute lookup, a third of this step's cost at small n. So it takes
# only params of type torch.Tensor or torch.nn.Parameter and grads of type torch.Tensor,
# which define none of these themselves (a subclass could): any other type takes the full
# step. What it reads: a param's grad, data pointer, strides and element count; a grad's
# layout, dtype, device, negation bit, shape, strides, data pointer, storage offset and
# storage size; a state buffer's data pointer, strides and element count; a counter's data
# pointer.


cdef extern from *:
    """
    /* t.<name> for a getset descriptor d of t's type: what attribute lookup would call */
    static PyObject *fo_descr_get(PyObject *d, PyObject *t) {
        return Py_TYPE(d)->tp_descr_get(d, t, (PyObject *)Py_TYPE(t));
    }
    """
    object fo_descr_get(object d, object t)
    object PyObject_CallOneArg(object callable, object arg)


cdef enum:
    SLOT_SPANS = 6   # the written spans of one item: param, up to 4 state buffers, counter


cdef struct _slot:
    fo_item item               # as the full step's plan checked it (grad and step set per run)
    fo_span spans[SLOT_SPANS]  # its written spans
    int n_spans
    int index                  # the param's index across groups, for messages
    unsigned int gates_on      # bit j: state buffer j is in use
    Py_ssize_t extent          # elements from a tensor's storage offset past its last one
    Py_ssize_t nbytes          # of the param (and of a grad like it)


@cython.final
cdef class SteadyStep:
    """fastopt.torch's step while nothing but the grads and settings change (see above).

    Made empty (it then never runs: a copy or an unpickled optimizer starts this way) and
    filled by :meth:`build` from a full step's plan."""
    cdef _slot *slots
    cdef Py_ssize_t n_slots
    cdef Kernel kernel
    cdef list groups          # the group dicts, in order
    cdef list params          # per group: a tuple of its params
    cdef list objects         # per slot: (state dict or None, buffers, counter, dtype, shape,
                              #            strides, numel, buffer strides, buffer numels)
    cdef list slot_of         # per param across groups: its slot, or -1 (no grad then)
    cdef object step_key, translate
    cdef object profiler_on, hooks_module, torch_threads, increment_version
    cdef object tensor_type, param_type
    cdef object strided
    cdef object grad_d, layout_d, dtype_d, is_cpu_d, shape_d       # getset descriptors
    cdef object data_ptr_m, stride_m, numel_m, is_neg_m, offset_m  # method descriptors
    cdef object storage_m, nbytes_m
    cdef list translate_args  # per group: translate's arguments
    cdef SettingsCache cache
    cdef list keys            # per group: its SettingsCache key

    def __dealloc__(self):
        PyMem_Free(self.slots)

    def __reduce__(self):
        return (SteadyStep, ())   # a copy starts empty

    def build(self, Kernel kernel, Plan plan, list groups, list slots, step_key,
              SettingsCache cache, translate, tuple torch_calls):
        """Keep what ``plan`` (run, every item dense and added in order) checked.

        ``slots`` has one ``(index, param, state dict or None, buffers, counter)`` per plan
        item: the param's index across ``groups``, its state dict as the step left it, its
        state tensors in the kernel's order (None where not used) and its step counter
        tensor (None without ``step_key``). ``torch_calls`` is what this asks torch
        (fastopt/torch/_hooks.py, ``STEADY_TORCH_CALLS``): ``(profiler_enabled,
        torch.optim.optimizer (for its global step hooks), get_num_threads,
        increment_version, torch.Tensor, torch.nn.Parameter, torch.strided,
        torch._C.TensorBase, torch._C.StorageBase)``."""
        cdef Py_ssize_t k = len(slots), i, j, d, extent
        cdef int ns = kernel.n_state, gate
        cdef _slot *sl
        cdef fo_span *sp
        if plan.n != k or not plan.done:
            raise RuntimeError("fastopt: a steady step is built from a plan that ran")
        PyMem_Free(self.slots)
        self.slots = NULL
        self.n_slots = 0
        tensor_type, param_type = torch_calls[4], torch_calls[5]
        for index, p, st, bufs, counter in slots:
            if (type(p) is not param_type and type(p) is not tensor_type) or any(
                    t is not None and type(t) is not tensor_type for t in (*bufs, counter)):
                return   # a tensor subclass (see above): this stays empty, full steps run
        self.slots = <_slot *>PyMem_Malloc((k if k else 1) * sizeof(_slot))
        if self.slots == NULL:
            raise MemoryError()
        memset(self.slots, 0, (k if k else 1) * sizeof(_slot))
        self.groups = list(groups)
        self.params = [tuple(g["params"]) for g in groups]
        self.keys = [(gi, False) for gi in range(len(groups))]
        self.translate_args = [(g, gi, False) for gi, g in enumerate(groups)]
        n_params = sum(len(ps) for ps in self.params)
        self.slot_of = [-1] * n_params
        self.objects = []
        for i in range(k):
            index, p, st, bufs, counter = slots[i]
            sl = &self.slots[i]
            sl.item = plan.items[i]
            if sl.item.rows or sl.item.kernel != kernel.index or len(bufs) != ns:
                raise RuntimeError("fastopt: a steady step takes one dense kernel")
            sl.index = <int>index
            for j in range(plan.n_spans):
                sp = &plan.spans[j]
                if sp.param == i and sp.role != 1:
                    if sl.n_spans == SLOT_SPANS:
                        raise RuntimeError("fastopt: too many spans for a steady slot")
                    sl.spans[sl.n_spans] = sp[0]
                    sl.n_spans += 1
            shape, stride = tuple(p.shape), tuple(p.stride())
            for j in range(ns):
                if plan._uses(kernel, plan.hyper_of[i], <int>j, len(shape)):
                    sl.gates_on |= 1u << j
            extent = 1
            for d in range(len(shape)):
                if shape[d] == 0:
                    extent = 0
                    break
                if stride[d] > 0:
                    extent += (shape[d] - 1) * stride[d]
            sl.extent = extent
            sl.nbytes = <Py_ssize_t>sl.item.n * _ITEMSIZE[sl.item.p_dtype]
            self.objects.append((st, tuple(bufs), counter, p.dtype, shape, stride,
                                 <Py_ssize_t>sl.item.n,
                                 tuple(None if b is None else b.stride() for b in bufs),
                                 tuple(None if b is None else b.numel() for b in bufs)))
            self.slot_of[index] = i
        self.kernel = kernel
        self.step_key = step_key
        self.cache = cache
        self.translate = translate
        (self.profiler_on, self.hooks_module, self.torch_threads, self.increment_version,
         self.tensor_type, self.param_type, self.strided, tensor_base, storage_base) = torch_calls
        self.grad_d, self.layout_d = tensor_base.grad, tensor_base.layout
        self.dtype_d, self.is_cpu_d, self.shape_d = (tensor_base.dtype, tensor_base.is_cpu,
                                                     tensor_base.shape)
        self.data_ptr_m, self.stride_m = tensor_base.data_ptr, tensor_base.stride
        self.numel_m, self.is_neg_m = tensor_base.numel, tensor_base.is_neg
        self.offset_m, self.storage_m = tensor_base.storage_offset, tensor_base.untyped_storage
        self.nbytes_m = storage_base.nbytes
        self.n_slots = k

    def step(self, opt):
        """fastopt.torch's ``opt.step()`` without a closure, whole, while no step hook or
        profiler is on: :meth:`run` on torch's thread count (fastopt's if one is set), then
        the params' version counters bumped, as torch's in-place ops do. Returns False,
        having written nothing, when it cannot take the step: the caller then runs the
        hooks and the full step."""
        if self.slots == NULL:
            return False
        if (self.profiler_on() or opt._optimizer_step_pre_hooks
                or opt._optimizer_step_post_hooks
                or self.hooks_module._global_optimizer_pre_hooks
                or self.hooks_module._global_optimizer_post_hooks):
            return False
        stepped = self._run(opt.param_groups, opt.state,
                           0 if _threads_set > 0 else self.torch_threads())
        if stepped is None:
            return False
        if stepped:
            self.increment_version(stepped)
        return True

    def run(self, list param_groups, object state, int n_threads):
        """The step, if everything but grads and settings is as at :meth:`build`: returns
        the params stepped; else None, having written nothing."""
        return self._run(param_groups, state, n_threads)

    cdef object _run(self, list param_groups, object state, int n_threads):
        cdef Py_ssize_t ng, gi, j, s = 0, k, row, n_in
        cdef Plan plan
        cdef list stepped
        if self.slots == NULL or not PyDict_Check(state):
            return None
        ng = len(self.groups)
        if len(param_groups) != ng:
            return None
        plan = Plan(self.n_slots)
        stepped = []
        for gi in range(ng):
            group = param_groups[gi]
            if group is not self.groups[gi]:
                return None
            plist = (<dict?>group)["params"]
            cached = <tuple>self.params[gi]
            n_in = len(cached)
            if type(plist) is not list or len(<list>plist) != n_in:
                return None
            row = -1
            for j in range(n_in):
                p = (<list>plist)[j]
                if p is not cached[j]:
                    return None
                if type(p) is not self.param_type and type(p) is not self.tensor_type:
                    return None
                g = fo_descr_get(self.grad_d, p)
                k = <Py_ssize_t>self.slot_of[s]
                s += 1
                if g is None:
                    continue
                if k < 0:
                    return None
                if row < 0:
                    try:
                        scalars = self.cache.get(self.keys[gi], group, self.kernel,
                                                 self.translate, self.translate_args[gi])
                    except Exception:
                        return None   # the full step raises it, naming the param
                    row = plan.hyper(self.kernel, scalars)
                if not self._add(plan, &self.slots[k], <tuple>self.objects[k], state, p, g,
                                 row):
                    return None
                stepped.append(p)
                plan.held.append(g)   # alive through the call (zero_grad in another thread)
        plan.run(n_threads)
        return stepped

    cdef bint _add(self, Plan plan, _slot *sl, tuple obj, object state, object p, object g,
                   Py_ssize_t row) except -1:
        """Check one param's records and its new grad; add it to ``plan`` if they fit."""
        st, bufs, counter, dtype, shape, stride, numel, buf_strides, buf_numels = obj
        cdef Kernel kernel = self.kernel
        cdef int j, ns = kernel.n_state, gate, itemsize = _ITEMSIZE[sl.item.p_dtype]
        cdef unsigned int on = 0
        cdef PyObject *cur
        cdef uintptr_t gptr
        cdef long long step = 1
        # the param: the same memory as the plan checked
        if (<uintptr_t>PyObject_CallOneArg(self.data_ptr_m, p) != <uintptr_t>sl.item.p
                or PyObject_CallOneArg(self.stride_m, p) != stride
                or PyObject_CallOneArg(self.numel_m, p) != numel):
            return False
        # the grad: a dense CPU tensor like the param, inside its storage
        if (type(g) is not self.tensor_type or fo_descr_get(self.layout_d, g) is not self.strided
                or fo_descr_get(self.dtype_d, g) is not dtype
                or fo_descr_get(self.is_cpu_d, g) is not True
                or PyObject_CallOneArg(self.is_neg_m, g) is not False):
            return False
        if (fo_descr_get(self.shape_d, g) != shape
                or PyObject_CallOneArg(self.stride_m, g) != stride):
            return False
        gptr = <uintptr_t>PyObject_CallOneArg(self.data_ptr_m, g)
        if sl.extent and (gptr == 0 or (<Py_ssize_t>PyObject_CallOneArg(self.offset_m, g)
                                        + sl.extent) * itemsize
                          > <Py_ssize_t>PyObject_CallOneArg(
                              self.nbytes_m, PyObject_CallOneArg(self.storage_m, g))):
            return False
        # the state: the same dict, buffers and counter, the same buffers in use
        cur = PyDict_GetItem(state, p)
        if cur == NULL:
            if st is not None:
                return False
        elif <object>cur is not st:
            return False
        for j in range(ns):
            if plan._uses(kernel, row, j, len(<tuple>shape)):
                on |= 1u << j
        if on != sl.gates_on:
            return False
        for j in range(ns):
            if not (on >> j) & 1:
                continue
            b = (<tuple>bufs)[j]
            cur = PyDict_GetItem(<dict>st, kernel.state_names[j])
            if (cur == NULL or <object>cur is not b
                    or <uintptr_t>PyObject_CallOneArg(self.data_ptr_m, b)
                    != <uintptr_t>sl.item.state[j]
                    or PyObject_CallOneArg(self.stride_m, b) != (<tuple>buf_strides)[j]
                    or PyObject_CallOneArg(self.numel_m, b) != (<tuple>buf_numels)[j]):
                return False
        if self.step_key is not None:
            if st is None:
                return False
            cur = PyDict_GetItem(<dict>st, self.step_key)
            if (cur == NULL or <object>cur is not counter
                    or <uintptr_t>PyObject_CallOneArg(self.data_ptr_m, counter)
                    != <uintptr_t>sl.item.step_counter):
                return False
        else:
            # no counter (SGD): step 1 while the param has no state, else 2, as the full step
            step = 2 if st is not None and len(<dict>st) else 1
        plan._add_copy(kernel, &sl.item, sl.spans, sl.n_spans, sl.index, row,
                       <const void *>gptr, sl.nbytes, step)
        return True
