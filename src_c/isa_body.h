/*
 * isa_body.h - every kernel, for float32 and float64, under the ISA named by FO_ISA.
 *
 * Included by exactly one isa_<name>.c, after that file has set the target for the compiler.
 * Defines fo_<algo>_f32_<isa> / fo_<algo>_f64_<isa> for every algorithm of kernels/registry.h,
 * fo_stream_probe_<isa>, and fo_fill_table_<isa>(), which dispatch.c calls.
 */
#include <math.h>
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

/* ---- float32 ---- */
#define FO_T float
#define FO_DT f32
#define FO_SQRT sqrtf
#define FO_KERNEL_BODIES
#include "kernels/registry.h"
#include "kernels/stream_probe.inc.c"
#undef FO_KERNEL_BODIES
#undef FO_T
#undef FO_DT
#undef FO_SQRT

/* ---- float64 ---- */
#define FO_T double
#define FO_DT f64
#define FO_SQRT sqrt
#define FO_KERNEL_BODIES
#include "kernels/registry.h"
#include "kernels/stream_probe.inc.c"
#undef FO_KERNEL_BODIES
#undef FO_T
#undef FO_DT
#undef FO_SQRT

static void FO_ISA_NAME(stream_probe)(int dtype, size_t n, void *p, const void *g,
                                      void *const *state, int n_state)
{
    if (dtype == FO_F32) FO_CAT3(stream_probe, f32, FO_ISA)(n, p, g, state, n_state);
    else                 FO_CAT3(stream_probe, f64, FO_ISA)(n, p, g, state, n_state);
}

void FO_ISA_NAME(fill_table)(fo_dense_fn table[][FO_N_DTYPES],
                             void (**probe)(int, size_t, void *, const void *, void *const *, int))
{
#define FO_ALGORITHM(name, n_state, n_hyper, state_names)                 \
    table[FO_ALGO_##name][FO_F32] = FO_CAT3(name, f32, FO_ISA);          \
    table[FO_ALGO_##name][FO_F64] = FO_CAT3(name, f64, FO_ISA);
#include "kernels/registry.h"
#undef FO_ALGORITHM
    *probe = FO_ISA_NAME(stream_probe);
}
