# The C side of fastopt (src_c/fastopt.h), as the Cython boundary uses it.
from libc.stdint cimport int64_t, uint64_t, uintptr_t

cdef extern from "fastopt.h" nogil:
    enum:
        FO_F32
        FO_F64
        FO_BF16
        FO_F16
        FO_N_ISAS
        FO_MAX_STATE
        FO_INDEX_NONE
        FO_INDEX_I32
        FO_INDEX_I64
        FO_STEP_VALUE
        FO_STEP_F32
        FO_STEP_F64
        FO_OK
        FO_ERR_INDEX
        FO_ERR_STEP
        FO_ERR_MEMORY

    # the registry (kernels/registry.h)
    ctypedef struct fo_kernel_info:
        const char *name
        const char *state_names
        const char *hyper_names
        int n_hyper
    const fo_kernel_info *fo_kernel(int row, int index) noexcept
    int fo_dense_whole(int algo) noexcept

    # ISA paths
    int fo_isa_compiled(int isa) noexcept
    int fo_isa_supported(int isa) noexcept
    int fo_best_isa() noexcept
    int fo_current_isa() noexcept
    const char *fo_isa_name(int isa) noexcept
    int fo_set_isa(int isa) noexcept
    int fo_set_half_isa(int isa) noexcept
    int fo_current_half_isa() noexcept
    void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                         int n_state) noexcept

    # the plan
    ctypedef struct fo_item:
        int rows
        int kernel
        int dtype
        int p_dtype
        int state_dtype
        void *master
        uint64_t seed
        size_t n
        void *p
        const void *g
        void *state[4]
        size_t state_n[4]
        unsigned scalars
        unsigned scalars_f64
        const double *hyper
        int step_kind
        int64_t step
        void *step_counter
        int index_type
        size_t n_rows, dim, k
        const void *index

    ctypedef struct fo_status:
        int code
        size_t item
        size_t position
        int64_t value

    int fo_run(size_t n_items, const fo_item *items, int n_threads, fo_status *status) noexcept

    # threads (threads.c)
    int fo_threads_runtime() noexcept
    int fo_threads_max() noexcept
    int fo_in_forked_child() noexcept
    size_t fo_thread_min_elements
    void fo_stream_probe_threads(int dtype, size_t n, void *p, const void *g, void *const *state,
                                 int n_state, int n_threads) noexcept

    ctypedef struct fo_span:
        uintptr_t start
        uintptr_t end
        int writable
        int param
        int role
    int fo_find_overlap(size_t m, fo_span *spans, fo_span *a, fo_span *b) noexcept


cdef class Kernel:
    cdef readonly str name
    cdef readonly bint rows
    cdef readonly int index
    cdef readonly tuple state_names
    cdef readonly tuple hyper_names
    cdef readonly tuple gates
    cdef readonly tuple per_row
    cdef readonly tuple scalar
    cdef readonly tuple factored
    cdef readonly bint elementwise  # a dense kernel without whole-param reductions
    cdef readonly tuple state_what
    cdef int n_state
    cdef int n_hyper
    cdef int gate_index[4]
    cdef bint row_state[4]
    cdef bint scalar_state[4]
    cdef int shape_kind[4]      # SHAPE_LIKE_PARAM, or a factored-state kind (_registry.pxi)
    cdef int rows_field         # the hyper row's `rows` and `cols` (plan-filled), or -1
    cdef int cols_field
    cdef int n_given            # hyper-parameters a front end gives (n_hyper - plan-filled)
    cpdef bint for_ndim(self, int j, int ndim) except -1


cdef class SparseRows:
    cdef readonly object indices
    cdef readonly object values
