/*
 * isa_body.h - every kernel, for float32 and float64, under the ISA named by FO_ISA.
 *
 * Included by exactly one isa_<name>.c, after that file has set the target for the compiler.
 * Defines fo_<algo>_f32_<isa> / fo_<algo>_f64_<isa> for every algorithm of kernels/registry.h
 * (dense and row kernels), fo_coalesce_<dtype>_<isa>, fo_stream_probe_<isa>, and
 * fo_fill_table_<isa>(), which dispatch.c calls.
 */
#include <math.h>
#include <string.h>
#include "fastopt.h"

#if defined(_MSC_VER)
#define FO_INLINE static __forceinline
#else
#define FO_INLINE static inline __attribute__((always_inline))
#endif

#define FO_CAT3_(a, b, c) fo_##a##_##b##_##c
#define FO_CAT3(a, b, c) FO_CAT3_(a, b, c)
#define FO_CAT2_(a, b) fo_##a##_##b
#define FO_CAT2(a, b) FO_CAT2_(a, b)
/* fo_<x>_<dtype>_<isa>: a kernel; fo_<x>_<isa>: a per-ISA helper */
#define FO_NAME(x) FO_CAT3(x, FO_DT, FO_ISA)
#define FO_ISA_NAME(x) FO_CAT2(x, FO_ISA)

/* Row kernels read each gradient element as 0 + g: -0.0 becomes +0.0, as in np.add.at into
 * zeros, and a folded row (already a sum from +0.0) reads unchanged. */
#define FO_ROW_READ(x) ((FO_T)0 + (x))

/* The table row of the j-th row of rs (see fo_row_set). */
FO_INLINE size_t fo_row_index(const fo_row_set *rs, size_t j)
{
    return rs->rows ? (size_t)rs->rows[j] : j;
}

/* Row kernels touch rows in random order, which no hardware prefetcher predicts: they ask
 * for the row FO_PREFETCH_AHEAD places ahead (every 64-byte line of it) while computing. */
#define FO_PREFETCH_AHEAD 4
#if defined(__GNUC__) || defined(__clang__)
#define FO_PREFETCH_ROW(ptr, nbytes)                                                  \
    do {                                                                               \
        const char *fo_pf_ = (const char *)(ptr);                                      \
        for (size_t fo_b_ = 0; fo_b_ < (nbytes); fo_b_ += 64)                          \
            __builtin_prefetch(fo_pf_ + fo_b_, 1, 3);                                  \
    } while (0)
#else
#define FO_PREFETCH_ROW(ptr, nbytes) ((void)0)
#endif

/* Fibonacci hashing: the top bits of r * 2^64 / phi. */
FO_INLINE size_t fo_row_hash(int64_t r, unsigned shift)
{
    return (size_t)(((uint64_t)r * 0x9E3779B97F4A7C15ull) >> shift);
}

/* ---- float32 ---- */
#define FO_T float
#define FO_DT f32
#define FO_SQRT sqrtf
#include "vec.h"
#define FO_KERNEL_BODIES
#include "kernels/registry.h"
#include "kernels/stream_probe.inc.c"
#undef FO_KERNEL_BODIES
#undef FO_T
#undef FO_DT
#undef FO_SQRT
#undef FO_V
#undef FO_VSQRT

/* ---- float64 ---- */
#define FO_T double
#define FO_DT f64
#define FO_SQRT sqrt
#include "vec.h"
#define FO_KERNEL_BODIES
#include "kernels/registry.h"
#include "kernels/stream_probe.inc.c"
#undef FO_KERNEL_BODIES
#undef FO_T
#undef FO_DT
#undef FO_SQRT
#undef FO_V
#undef FO_VSQRT

static void FO_ISA_NAME(stream_probe)(int dtype, size_t n, void *p, const void *g,
                                      void *const *state, int n_state)
{
    if (dtype == FO_F32) FO_CAT3(stream_probe, f32, FO_ISA)(n, p, g, state, n_state);
    else                 FO_CAT3(stream_probe, f64, FO_ISA)(n, p, g, state, n_state);
}

void FO_ISA_NAME(fill_table)(fo_dense_fn table[][FO_N_DTYPES],
                             void (**probe)(int, size_t, void *, const void *, void *const *, int),
                             fo_rows_fn rows_table[][FO_N_DTYPES],
                             fo_coalesce_fn coalesce[FO_N_DTYPES])
{
#define FO_ALGORITHM(name, n_state, n_hyper, state_names)                 \
    table[FO_ALGO_##name][FO_F32] = FO_CAT3(name, f32, FO_ISA);          \
    table[FO_ALGO_##name][FO_F64] = FO_CAT3(name, f64, FO_ISA);
#include "kernels/registry.h"
#undef FO_ALGORITHM
#define FO_ROW_ALGORITHM(name, n_state, n_hyper, state_names)             \
    rows_table[FO_ROWS_##name][FO_F32] = FO_CAT3(name, f32, FO_ISA);     \
    rows_table[FO_ROWS_##name][FO_F64] = FO_CAT3(name, f64, FO_ISA);
#include "kernels/registry.h"
#undef FO_ROW_ALGORITHM
    coalesce[FO_F32] = FO_CAT3(coalesce, f32, FO_ISA);
    coalesce[FO_F64] = FO_CAT3(coalesce, f64, FO_ISA);
    *probe = FO_ISA_NAME(stream_probe);
}
