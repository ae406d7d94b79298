/*
 * isa_body.h - every kernel, for float32 and float64, under the ISA named by FO_ISA.
 *
 * Included by exactly one isa_<name>.c, after that file has set the target for the compiler.
 * Defines fo_<algo>_f32_<isa> / fo_<algo>_f64_<isa> for every algorithm of kernels/registry.h
 * (dense and row kernels), fo_coalesce_<dtype>_<isa>, fo_stream_probe_<isa>,
 * fo_run_half_<isa> (half-precision storage, half.h), and
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

FO_INLINE size_t fo_row_hash(int64_t r, unsigned shift)
{
    return (size_t)(fo_row_mix(r) >> shift);
}

/* ---- the kernel idiom ------------------------------------------------------------------
 *
 * A kernel file (kernels/<name>.inc.c) has four parts, in this order:
 *   1. its per-step scalars, a struct of FO_T computed once per call from fo_<name>_hyper;
 *   2. its math for one element or one vector: a macro DEFINE(X, V) that defines the whole
 *      function FO_NAME(<name>_math_##X), run through FO_MATH_FNS(DEFINE), which defines it on
 *      FO_T (X = s) and on the vector type FO_V (X = v); it takes the scalars by value and the
 *      flags F, and uses FO_NAME(sqrt_##X) / FO_NAME(maximum_##X) for np.sqrt / np.maximum;
 *   3. its loop, FO_NAME(<name>_loop)(n, buffers..., scalars, F): blocks of vectors (vec.h),
 *      then the plain element loop, both calling the math;
 *   4. its entry, FO_NAME(<name>)(...): the scalars from the hyper struct (in double, rounded
 *      once to FO_T), the flags from the hyper struct, then FO_SPECIALIZE_<b>(flags, CALL).
 */

/* CALL(F) with F the value of flags as a constant (b low bits), so each call site is the loop
 * with its flags fixed, vectorized on its own: the one way kernels specialise on flags. */
#define FO_SPECIALIZE_1(flags, CALL) do { if ((flags) & 1u) CALL(1u); else CALL(0u); } while (0)
#define FO_SPECIALIZE_2(flags, CALL)                                       \
    do {                                                                   \
        switch ((flags) & 3u) {                                            \
        case 0: CALL(0u); break; case 1: CALL(1u); break;                  \
        case 2: CALL(2u); break; default: CALL(3u); break;                 \
        }                                                                  \
    } while (0)
#define FO_SPECIALIZE_3(flags, CALL)                                       \
    do {                                                                   \
        switch ((flags) & 7u) {                                            \
        case 0: CALL(0u); break; case 1: CALL(1u); break;                  \
        case 2: CALL(2u); break; case 3: CALL(3u); break;                  \
        case 4: CALL(4u); break; case 5: CALL(5u); break;                  \
        case 6: CALL(6u); break; default: CALL(7u); break;                 \
        }                                                                  \
    } while (0)
#define FO_SPECIALIZE_4(flags, CALL)                                       \
    do {                                                                   \
        switch ((flags) & 15u) {                                           \
        case 0: CALL(0u); break; case 1: CALL(1u); break;                  \
        case 2: CALL(2u); break; case 3: CALL(3u); break;                  \
        case 4: CALL(4u); break; case 5: CALL(5u); break;                  \
        case 6: CALL(6u); break; case 7: CALL(7u); break;                  \
        case 8: CALL(8u); break; case 9: CALL(9u); break;                  \
        case 10: CALL(10u); break; case 11: CALL(11u); break;              \
        case 12: CALL(12u); break; case 13: CALL(13u); break;              \
        case 14: CALL(14u); break; default: CALL(15u); break;              \
        }                                                                  \
    } while (0)

/* flag bit b of a constant F */
#define FO_FLAG(F, bit) (((F) & (bit)) != 0u)

/* A kernel's storage: FO_PT the element type of p and g, FO_ST of its state buffers like the
 * param; FO_T itself in the float32 and float64 compiles (FO_STORAGE 0). */
#define FO_STORAGE 0
#define FO_PT FO_T
#define FO_ST FO_T

/* ---- float32 ---- */
#define FO_T float
#define FO_DT f32
#define FO_SQRT sqrtf
#define FO_FABS fabsf
#include "vec.h"
#include "kernels/all.inc.c"
#undef FO_T
#undef FO_DT
#undef FO_SQRT
#undef FO_FABS
#undef FO_V
#undef FO_VSQRT

/* ---- float64 ---- */
#define FO_T double
#define FO_DT f64
#define FO_SQRT sqrt
#define FO_FABS fabs
#include "vec.h"
#include "kernels/all.inc.c"
#undef FO_T
#undef FO_DT
#undef FO_SQRT
#undef FO_FABS
#undef FO_V
#undef FO_VSQRT

/* ---- half-precision storage ---- */
#ifndef FO_F16C
#define FO_F16C 0   /* the path's float16 conversion instructions: 256 (F16C), 512, or none */
#endif
#include "half_convert.h"

/* The elementwise kernels again, in float32 math on half-precision storage (the storage
 * compiles): their vector blocks load and store through the conversions, fused; half.h
 * runs them over whole blocks and its float32 tiles over the rest. fo_<algo>_<storage>_<isa>
 * with storage bf16 (bfloat16 p, g and state), f16 (float16), bf16sr (float32 p and g,
 * bfloat16 state, stochastic rounding). */
#if FO_VBYTES
#undef FO_STORAGE
#undef FO_PT
#undef FO_ST
#define FO_STORAGE 1
#define FO_T float
#define FO_SQRT sqrtf
#define FO_FABS fabsf
#define FO_VSQRT_bf16 FO_VSQRT_f32
#define FO_VSQRT_f16 FO_VSQRT_f32
#define FO_VSQRT_bf16sr FO_VSQRT_f32
#ifdef FO_VTOTAL_STORAGE   /* (the ISA's block for the storage compiles, if it has its own) */
#undef FO_VTOTAL
#define FO_VTOTAL FO_VTOTAL_STORAGE
#endif

#define FO_DT bf16
#define FO_PT fo_bf16
#define FO_ST fo_bf16
#include "vec.h"
#include "kernels/all.inc.c"
#undef FO_DT
#undef FO_PT
#undef FO_ST
#undef FO_V
#undef FO_VSQRT

#define FO_DT f16
#define FO_PT fo_f16
#define FO_ST fo_f16
#include "vec.h"
#include "kernels/all.inc.c"
#undef FO_DT
#undef FO_PT
#undef FO_ST
#undef FO_V
#undef FO_VSQRT

#define FO_DT bf16sr
#define FO_PT float
#define FO_ST fo_bf16sr
#include "vec.h"
#include "kernels/all.inc.c"
#undef FO_DT
#undef FO_PT
#undef FO_ST
#undef FO_V
#undef FO_VSQRT

#undef FO_T
#undef FO_SQRT
#undef FO_FABS
#endif
#include "half.h"

static void FO_ISA_NAME(stream_probe)(int dtype, size_t n, void *p, const void *g,
                                      void *const *state, int n_state)
{
    if (dtype == FO_F32) FO_CAT3(stream_probe, f32, FO_ISA)(n, p, g, state, n_state);
    else                 FO_CAT3(stream_probe, f64, FO_ISA)(n, p, g, state, n_state);
}

void FO_ISA_NAME(fill_table)(fo_dense_fn table[][FO_N_DTYPES],
                             void (**probe)(int, size_t, void *, const void *, void *const *, int),
                             fo_rows_fn rows_table[][FO_N_DTYPES],
                             fo_coalesce_fn coalesce[FO_N_DTYPES], fo_half_fn *half,
                             fo_half_rows_fn *half_rows, fo_half_whole_fn *half_whole)
{
#define FO_FILL_DENSE(name, ...)                                    \
    table[FO_ALGO_##name][FO_F32] = FO_CAT3(name, f32, FO_ISA);     \
    table[FO_ALGO_##name][FO_F64] = FO_CAT3(name, f64, FO_ISA);
#define FO_FILL_ROWS(name, ...)                                     \
    rows_table[FO_ROWS_##name][FO_F32] = FO_CAT3(name, f32, FO_ISA); \
    rows_table[FO_ROWS_##name][FO_F64] = FO_CAT3(name, f64, FO_ISA);
    FO_DENSE_KERNELS(FO_FILL_DENSE)
    FO_ROW_KERNELS(FO_FILL_ROWS)
#undef FO_FILL_DENSE
#undef FO_FILL_ROWS
    coalesce[FO_F32] = FO_CAT3(coalesce, f32, FO_ISA);
    coalesce[FO_F64] = FO_CAT3(coalesce, f64, FO_ISA);
    *probe = FO_ISA_NAME(stream_probe);
    *half = FO_ISA_NAME(run_half);
    *half_rows = FO_ISA_NAME(run_half_rows);
    *half_whole = FO_ISA_NAME(run_half_whole);
}
