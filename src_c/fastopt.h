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

enum { FO_F32 = 0, FO_F64 = 1, FO_N_DTYPES = 2 };
enum { FO_ISA_BASELINE = 0, FO_ISA_AVX2 = 1, FO_ISA_AVX512 = 2, FO_N_ISAS = 3 };

/*
 * A dense kernel: one fused pass over n elements of one parameter.
 *   p      the parameter, updated in place
 *   g      its gradient, only read
 *   state  the algorithm's state buffers (n elements each), updated in place
 *   hyper  the algorithm's hyper-parameters as doubles (layout documented in its kernel file)
 *   step   the 1-based number of this step for this parameter
 * Per-step scalars (decayed lr, bias corrections) are computed from hyper and step in double,
 * once, before the loop.
 */
typedef void (*fo_dense_fn)(size_t n, void *p, const void *g, void *const *state,
                            const double *hyper, int64_t step);

/* The algorithms, in the order of kernels/registry.h. */
#define FO_ALGORITHM(name, n_state, n_hyper, state_names) FO_ALGO_##name,
enum {
#include "kernels/registry.h"
    FO_N_ALGOS
};
#undef FO_ALGORITHM

/* Registry facts, by algorithm index. */
int fo_n_algorithms(void);
const char *fo_algorithm_name(int algo);
int fo_algorithm_n_state(int algo);
int fo_algorithm_n_hyper(int algo);
const char *fo_algorithm_state_names(int algo);

/* ISA paths: what this build holds, what this CPU and OS can run, which one is in use. */
int fo_isa_compiled(int isa);
int fo_isa_supported(int isa);
int fo_best_isa(void);
int fo_current_isa(void);
const char *fo_isa_name(int isa);
int fo_set_isa(int isa); /* 0 on success, -1 if not compiled in or not supported */

/* Update k parameters: param i uses hyper[i*n_hyper ...], state[i*n_state ...]. No checks. */
void fo_run_dense(int algo, size_t k, const int *dtype, const size_t *n, void *const *p,
                  const void *const *g, void *const *state, const double *hyper,
                  const int64_t *step);

/*
 * Memory-bandwidth probe for the benchmark: the same traffic as a kernel with n_state state
 * buffers (read p, g and each state; write p and each state) and next to no arithmetic:
 * p += g; s_j += g. Runs on the ISA path in use.
 */
void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                     int n_state);

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
