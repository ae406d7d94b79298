# cython: language_level=3, embedsignature=True
"""The boundary between Python and the C kernels in src_c/ (one extension, in parts).

- ``_registry.pxi``: :class:`Kernel`, each kernel of src_c/kernels/registry.h with its state
  buffers and hyper-parameter names (``kernel(name)``, ``row_kernel(name)``);
- ``_sparse_rows.pxi``: :class:`SparseRows`, a row-sparse gradient;
- ``_checks.pxi``: what a buffer must be (dtype, one dense layout, alignment, ...);
- ``_scalars_cache.pxi``: :class:`Scalars`, a kernel's converted hyper-parameters, and
  :class:`SettingsCache`, which reuses them while a group's settings stay the same objects;
- ``_plan.pxi``: :class:`Plan`, the one way to run kernels: every front end fills one with
  its params (converted scalars first, then checked buffers) and runs it, one C call;
- ``_plan_arrays.pxi`` / ``_plan_records.pxi``: a plan's items from NumPy arrays
  (:meth:`Plan.add`) / from pointer records (:meth:`Plan.add_raw`, fastopt.torch's tensors);
- ``_front_steps.pxi``: the functional and NumPy objects' common steps, whole in C;
- ``_steady_step.pxi``: :class:`SteadyStep`, fastopt.torch's last plan again with only the
  grads new, while nothing else changes;
- ``_threads.pxi``: how many threads a step uses (src_c/threads.c splits the work);
- ``_isa.pxi``: the ISA paths (chosen at import) and the bandwidth probe of the benchmark.

Private: ``fastopt.optim`` (the functional steps and the NumPy objects) and
``fastopt.torch`` are its callers. It never imports torch.
"""
import os
import warnings

import numpy as np

cimport cython

from cpython.dict cimport PyDict_Check, PyDict_GetItem, PyDict_Next
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset

cimport numpy as cnp

cnp.import_array()

include "_registry.pxi"
include "_sparse_rows.pxi"
include "_checks.pxi"
include "_scalars_cache.pxi"
include "_threads.pxi"
include "_plan.pxi"
include "_plan_arrays.pxi"
include "_plan_records.pxi"
include "_steady_step.pxi"
include "_front_steps.pxi"
include "_isa.pxi"
