/*
 * fastopt.h - the C side of fastopt, as the Cython boundary sees it.
 *
 * Direction of calls: fastopt/_kernels.pyx validates every buffer, then calls fo_run_dense(),
 * which calls one kernel per parameter through the table of the ISA path in use.
 * Kernels live in kernels/<algorithm>.inc.c and are compiled once per ISA (isa_*.c).
 */
#ifndef FASTOPT_H
#define FASTOPT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_MSC_VER)
#define FO_RESTRICT __restrict
#else
#define FO_RESTRICT restrict
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FO_X86 1
#else
#define FO_X86 0
#endif

/* The dtypes kernels compute in (FO_N_DTYPES: the kernel tables' columns), and the
 * half-precision storage dtypes, computed in float32 (half.h). */
enum { FO_F32 = 0, FO_F64 = 1, FO_N_DTYPES = 2, FO_BF16 = 2, FO_F16 = 3, FO_N_STORAGE = 4 };
enum { FO_ISA_BASELINE = 0, FO_ISA_AVX2 = 1, FO_ISA_AVX512 = 2, FO_N_ISAS = 3 };

#include "kernels/registry.h"

/* fo_<name>_hyper: each kernel's hyper-parameters, named in kernels/registry.h (all double,
 * so the struct is also an array of doubles in the registry's order: the table fastopt._kernels
 * fills by name). */
#define FO_HYPER_STRUCT(name, states, ...) typedef struct { double __VA_ARGS__; } fo_##name##_hyper;
FO_DENSE_KERNELS(FO_HYPER_STRUCT)
FO_ROW_KERNELS(FO_HYPER_STRUCT)
#undef FO_HYPER_STRUCT

/*
 * A dense kernel: one fused pass over n elements of one parameter.
 *   p      the parameter, updated in place
 *   g      its gradient, only read
 *   state  the kernel's state buffers (n elements each, registry order), updated in place
 *   hyper  its fo_<name>_hyper
 *   step   the 1-based number of this step for this parameter
 * Per-step scalars (decayed lr, bias corrections) are computed from hyper and step in double,
 * once, before the loop.
 */
typedef void (*fo_dense_fn)(size_t n, void *p, const void *g, void *const *state,
                            const void *hyper, int64_t step);

/*
 * Scalar state ("x:scalar" in the registry: one number per param, such as NAdam's mu_product
 * or ASGD's eta and mu, float32 or float64 whatever the param's dtype). A dense kernel sees such
 * a buffer as a pointer to two doubles, {value before this step, value after it}; the value
 * after comes from the kernel's advance function (registry.h: FO_ADVANCING_KERNELS), rounded
 * to the buffer's dtype, and fo_run stores it once every kernel of the step has run.
 *   old    the kernel's scalar buffers before the step (registry order; others unused)
 *   next   out: their values after it (in double; fo_run rounds and stores them)
 *   f64    bit j set: scalar buffer j is float64 (else float32), for torch's float32 math
 */
typedef void (*fo_advance_fn)(const void *hyper, int64_t step, const double *old,
                              double *next, unsigned f64);

#define FO_ENUM_DENSE(name, ...) FO_ALGO_##name,
enum { FO_DENSE_KERNELS(FO_ENUM_DENSE) FO_N_ALGOS };
#undef FO_ENUM_DENSE
#define FO_ENUM_ROWS(name, ...) FO_ROWS_##name,
enum { FO_ROW_KERNELS(FO_ENUM_ROWS) FO_N_ROW_ALGOS };
#undef FO_ENUM_ROWS

/* A kernel's registry line, as Python reads it. */
typedef struct {
    const char *name;
    const char *state_names;  /* "sum", "momentum_buffer?momentum", "sum:row" */
    const char *hyper_names;  /* "lr, lr_decay, ...": the fields of fo_<name>_hyper, in order */
    int n_hyper;
} fo_kernel_info;

/* Registry facts: row = 0 for dense kernels, 1 for row kernels; NULL past the end. */
const fo_kernel_info *fo_kernel(int row, int index);

/* ISA paths: what this build holds, what this CPU and OS can run, which one is in use. */
int fo_isa_compiled(int isa);
int fo_isa_supported(int isa);
int fo_best_isa(void);
int fo_current_isa(void);
const char *fo_isa_name(int isa);
int fo_set_isa(int isa); /* 0 on success, -1 if not compiled in or not supported */
/* half-precision storage's path alone (fo_set_isa sets both); 0 or -1 as fo_set_isa */
int fo_set_half_isa(int isa);
int fo_current_half_isa(void);

/*
 * Memory-bandwidth probe for the benchmark: the same traffic as a kernel with n_state state
 * buffers (read p, g and each state; write p and each state) and next to no arithmetic:
 * p += g; s_j += g. Runs on the ISA path in use.
 */
void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                     int n_state);

/* ---- row-sparse steps ----------------------------------------------------------------------
 *
 * A 2-D parameter (n_rows x dim, C order) can be stepped from a row-sparse gradient: k row
 * indices and k x dim values (fastopt.SparseRows). fo_run_rows first folds repeated indices
 * into one gradient row each (their sum, in order of appearance, starting from +0.0: exactly
 * what np.add.at into a zero array computes; no sorting, cost O(k * dim)), then calls the
 * algorithm's row kernel on the distinct rows only. Rows not in the batch are never read.
 */
enum { FO_INDEX_NONE = 0, FO_INDEX_I32 = 1, FO_INDEX_I64 = 2 };

/*
 * The rows one row-kernel call updates.
 *   m      number of rows to update
 *   dim    elements per row
 *   rows   the m distinct row indices; NULL means rows 0, 1, ..., m-1 (a dense gradient)
 *   grad   m pointers, grad[j] -> the (summed) gradient of rows[j], dim elements; NULL means
 *          row j's gradient is dense + j * dim
 * A kernel reads each gradient element as 0 + g (so -0.0 reads as +0.0, as np.add.at does).
 */
typedef struct {
    size_t m, dim;
    const int64_t *rows;
    const void *const *grad;
    const void *dense;
} fo_row_set;

/*
 * A row kernel: one fused pass over the rows of rs. p and the state buffers are the whole
 * tables (row r of p at p + r * dim; a state buffer named "x:row" in the registry holds one
 * element per row, at + r); hyper and step as for a dense kernel.
 */
typedef void (*fo_rows_fn)(const fo_row_set *rs, void *p, void *const *state,
                           const void *hyper, int64_t step);

/* ---- the plan: one step over many params, one call ---------------------------------------
 *
 * fastopt._kernels fills one fo_item per param (after converting every Python value and
 * checking every buffer), then calls fo_run once. Dense items run their dense kernel over n
 * elements; row items their row kernel over the rows a row-sparse gradient touches.
 */
#define FO_MAX_STATE 4

enum { FO_STEP_VALUE = 0, FO_STEP_F32 = 1, FO_STEP_F64 = 2 };

typedef struct {
    int rows;            /* 0: kernel indexes the dense table; 1: the row table */
    int kernel;
    int dtype;           /* FO_F32 / FO_F64: the dtype the kernel computes in */
    /* Storage (half.h). A plain item has p_dtype == state_dtype == dtype, master NULL. */
    int p_dtype;         /* of p and g: dtype, or FO_BF16 / FO_F16 (then dtype is FO_F32) */
    int state_dtype;     /* of the state buffers like the param: dtype, FO_BF16 or FO_F16 */
    void *master;        /* float32 master weights of a half param (the kernel's p), or NULL */
    uint64_t seed;       /* stochastic rounding: the optimizer's seed + GOLDEN * (index + 1) */
    size_t n;            /* elements of p (and of g for a dense item) */
    void *p;
    const void *g;       /* dense: the gradient; rows: the k x dim values, or (index_type
                            FO_INDEX_NONE) a dense gradient covering every row */
    void *state[FO_MAX_STATE];  /* registry order; NULL where a gated buffer is off */
    size_t state_n[FO_MAX_STATE];  /* elements of each array state buffer (0: off/scalar;
                            a row item's "x:row" buffer: n_rows, one per row) */
    unsigned scalars;    /* bit j: state[j] is a one-element scalar buffer (see fo_advance_fn) */
    unsigned scalars_f64;/* bit j: that scalar buffer is float64 (else float32) */
    const double *hyper; /* the kernel's fo_<name>_hyper */
    /* The step number: FO_STEP_VALUE uses step; FO_STEP_F32/F64 read a counter at
     * step_counter (torch's float step tensors), pass counter + 1 (added in the counter's
     * dtype) and store it back after the update. */
    int step_kind;
    int64_t step;
    void *step_counter;
    /* row items only */
    int index_type;      /* FO_INDEX_I32 / FO_INDEX_I64, or FO_INDEX_NONE */
    size_t n_rows, dim;  /* the param as n_rows x dim */
    size_t k;            /* gradient rows given */
    const void *index;   /* k indices (checked by fo_run, on its own copy) */
} fo_item;

enum {
    FO_OK = 0,
    FO_ERR_INDEX = 1,    /* item's index at position is outside [0, n_rows) */
    FO_ERR_STEP = 2,     /* item's step counter + 1 is not a whole number in [1, 2^53] */
    FO_ERR_MEMORY = 3    /* no memory for the row workspace */
};

typedef struct {
    int code;
    size_t item;
    size_t position;
    int64_t value;
} fo_status;

/*
 * Run every item; all or nothing. Before writing anything, fo_run reads every step counter
 * and copies every row item's indices into its own workspace, checking each is in range
 * (so a change to the caller's index arrays after that cannot send a write out of the
 * table); on failure it returns the error in *status and has written nothing. Then the row
 * items, the dense items, the scalar state and the step counters.
 *
 * Dense items run on up to n_threads threads (threads.c): all their elements, across items,
 * are cut into equal runs at cache-line multiples of each item's start, a static split, so
 * each element gets the same math whatever the thread count (results are bitwise the same).
 */
int fo_run(size_t n_items, const fo_item *items, int n_threads, fo_status *status);

/* threads.c: the thread runtime (OpenMP where built with it). */
int fo_threads_runtime(void);        /* 1 if built with OpenMP */
int fo_threads_max(void);            /* omp_get_max_threads() of the calling thread, or 1 */
int fo_in_forked_child(void);        /* 1 in a child forked after the module loaded */
/* Minimum elements per thread before a dense step is cut (smaller steps stay on one). */
extern size_t fo_thread_min_elements;
/* Run the dense items of a plan (their steps given) on up to n_threads threads. */
void fo_stream_probe_threads(int dtype, size_t n, void *p, const void *g, void *const *state,
                             int n_state, int n_threads);
void fo_run_dense(size_t n_items, const fo_item *items, const int64_t *steps, int n_threads,
                  size_t *scratch);

/* Scratch for folding repeated indices (threads.c lays it out, the kernels fill it). */
typedef struct {
    uint32_t *table;     /* open addressing, mask + 1 slots, FO_EMPTY when free */
    size_t mask;
    unsigned shift;      /* 64 - log2(mask + 1), for Fibonacci hashing */
    int64_t *rows;       /* k: the distinct rows, in order of first appearance */
    const void **grad;   /* k: each distinct row's gradient (in values, or in scratch) */
    uint32_t *dup;       /* k: a repeated row's scratch row, or FO_EMPTY */
    void *scratch;       /* (k / 2) x dim: sums of repeated rows */
    /* half-precision row items only (fo_rows_half; half.h) */
    float *values32;     /* k x dim: the half values read as float32 (shared by the threads;
                            each converts its own rows) */
    float *tiles;        /* 2 + FO_MAX_STATE tiles of fo_row_tile(dim) float32 elements */
} fo_rows_work;
#define FO_EMPTY 0xffffffffu

/* Fibonacci hashing of a row index (the top bits of r * 2^64 / phi): the fold's hash table
 * (isa_body.h) and the parts threads.c deals out to threads. */
static inline uint64_t fo_row_mix(int64_t r) { return (uint64_t)r * 0x9E3779B97F4A7C15ull; }

/* Folds the indexed rows at positions pos[0], ..., pos[n - 1] (increasing; pos NULL: the
 * first n) into w; returns the number of distinct rows among them. threads.c gives a thread
 * the positions of the rows it owns. */
typedef size_t (*fo_coalesce_fn)(size_t dim, const int64_t *index, const void *values,
                                 const uint32_t *pos, size_t n, fo_rows_work *w);
/* The fold workspace of one row item with k indices at base (NULL: only its size; threads.c);
 * half: fo_rows_half of the item. */
size_t fo_rows_layout(size_t k, size_t dim, size_t item, int half, char *base, fo_rows_work *w);
/* A row item's rows (indices checked and copied to idx) on nt threads (fo_rows_threads, once:
 * fo_run sizes the workspace for that count): base holds the item's shared part
 * (fo_rows_shared bytes), then one workspace of `work` bytes per thread (threads.c). */
void fo_run_rows(const fo_item *it, const int64_t *idx, int64_t step, int nt, char *base,
                 size_t work);
/* The threads for a row item of k indices of dim elements, at most n_threads, none with
 * fewer than min_elements (fo_thread_min_elements, read once per step by the caller). */
int fo_rows_threads(size_t k, size_t dim, int n_threads, size_t min_elements);
/* The bytes of a row item's workspace its nt threads share (a half item's values32; with
 * nt > 1, each index's owner and the counts that balance the threads). */
size_t fo_rows_shared(const fo_item *it, int nt);

/* Elements [lo, hi) of a dense item stored in half precision (or with master weights, or
 * bfloat16 state) through the float32 kernel (half.h). */
typedef void (*fo_half_fn)(const fo_item *it, fo_dense_fn kernel, size_t lo, size_t hi,
                           int64_t step);
/* Is its state stored with stochastic rounding (bfloat16 state of a float32 param)? */
static inline int fo_item_stochastic(const fo_item *it)
{
    return it->p_dtype == FO_F32 && it->state_dtype == FO_BF16;
}

/* Is an item stored in anything but its kernel's dtype (then fo_half / fo_half_rows runs it)? */
static inline int fo_item_half(const fo_item *it)
{
    return it->p_dtype != it->dtype || it->state_dtype != it->dtype || it->master != NULL;
}

/* A row item's half-precision workspace: 0 none (a plain item), 1 tiles (float32 values),
 * 2 tiles and values32 (half values, read as float32 before the fold). */
static inline int fo_rows_half(const fo_item *it)
{
    return !fo_item_half(it) ? 0 : it->p_dtype != FO_F32 ? 2 : 1;
}

/* Float32 elements per tile of a half-precision row step: whole rows, FO_ROW_TILE or more. */
#define FO_ROW_TILE 1024
static inline size_t fo_row_tile(size_t dim) { return dim > FO_ROW_TILE ? dim : FO_ROW_TILE; }

/* The row steps of a half-precision row item (half.h): its rows [idx: the checked indices,
 * those at positions pos[0..n) as fo_run_rows assigns them (pos NULL: all); idx NULL: a dense
 * gradient, every row] folded in float32 and stepped on float32 tiles through the float32 row
 * kernel, with w's workspace. */
typedef void (*fo_half_rows_fn)(const fo_item *it, fo_rows_fn kernel, const int64_t *idx,
                                int64_t step, const uint32_t *pos, size_t n, fo_rows_work *w);

/* The kernels of the ISA path in use (dispatch.c), for fo_run (plan.c). */
fo_half_fn fo_half(void);
fo_half_rows_fn fo_half_rows(void);
fo_dense_fn fo_dense_kernel(int algo, int dtype);
fo_advance_fn fo_dense_advance(int algo);   /* NULL for a kernel without scalar state */
int fo_dense_whole(int algo);   /* 1: never cut the kernel's params (registry: FO_WHOLE_KERNELS) */

/* A dense item of a whole-param kernel (Lamb, Adafactor) stored in half precision: fo_run
 * runs it on float32 copies of its arrays (fo_half_whole), not in fo_run_dense. */
static inline int fo_item_whole_half(const fo_item *it)
{
    return !it->rows && it->n && fo_item_half(it) && fo_dense_whole(it->kernel);
}

/* The float32 elements fo_half_whole needs for it: p (unless master weights or float32), g
 * (if half), and each half state buffer. */
static inline size_t fo_whole_half_floats(const fo_item *it)
{
    size_t n = it->p_dtype != FO_F32 ? (it->master ? 0 : it->n) + it->n : 0;
    for (int j = 0; j < FO_MAX_STATE && it->state_dtype != FO_F32; j++)
        if (it->state[j] && !((it->scalars >> j) & 1u)) n += it->state_n[j];
    return n;
}

/* Such an item's step (half.h): every array read into float32 at `work`
 * (fo_whole_half_floats), the float32 kernel on them, each rounded back once. */
typedef void (*fo_half_whole_fn)(const fo_item *it, fo_dense_fn kernel, int64_t step,
                                 float *work);
fo_half_whole_fn fo_half_whole(void);
fo_rows_fn fo_row_kernel(int algo, int dtype);
fo_coalesce_fn fo_coalescer(int dtype);

/* A byte range of one buffer, for the overlap check. */
typedef struct {
    uintptr_t start, end; /* [start, end) */
    int writable;
    int param;            /* index of the parameter it belongs to */
    int role;             /* 0 param, 1 grad, 2 + j state j */
} fo_span;

/*
 * Sorts spans in place and reports one pair that overlaps where at least one side is
 * written: returns 1 and fills *a, *b (copies), or 0 if there is none. Empty spans never
 * overlap.
 */
int fo_find_overlap(size_t m, fo_span *spans, fo_span *a, fo_span *b);

#endif
