/*
 * dispatch.c - the registry as data, and which ISA path runs, chosen once.
 *
 * Detection: GCC/Clang's __builtin_cpu_supports, which checks CPUID *and* that the OS saves
 * the vector state (XGETBV), so AVX-512 is never picked where the kernel would fault.
 * MSVC builds have the baseline path only (the AVX units need GCC/Clang target pragmas).
 */
#include <stdlib.h>
#include <string.h>
#include "fastopt.h"

/* ---- the registry ---------------------------------------------------------------------- */

#define FO_INFO(name, states, ...) \
    {#name, states, #__VA_ARGS__, (int)(sizeof(fo_##name##_hyper) / sizeof(double))},
static const fo_kernel_info dense_kernels[FO_N_ALGOS] = {FO_DENSE_KERNELS(FO_INFO)};
static const fo_kernel_info row_kernels[FO_N_ROW_ALGOS] = {FO_ROW_KERNELS(FO_INFO)};
#undef FO_INFO

const fo_kernel_info *fo_kernel(int row, int index)
{
    if (index < 0) return NULL;
    if (row) return index < FO_N_ROW_ALGOS ? &row_kernels[index] : NULL;
    return index < FO_N_ALGOS ? &dense_kernels[index] : NULL;
}

/* ---- the ISA paths --------------------------------------------------------------------- */

typedef void (*fo_probe_fn)(int, size_t, void *, const void *, void *const *, int);
#define FO_FILL_ARGS                                                                    \
    fo_dense_fn table[][FO_N_DTYPES], fo_probe_fn *probe, fo_rows_fn rows[][FO_N_DTYPES], \
        fo_coalesce_fn coalesce[FO_N_DTYPES], fo_half_fn *half, fo_half_rows_fn *half_rows, \
        fo_half_whole_fn *half_whole
typedef void (*fo_fill_fn)(FO_FILL_ARGS);

void fo_fill_table_baseline(FO_FILL_ARGS);
#if FO_X86 && (defined(__GNUC__) || defined(__clang__))
#define FO_HAVE_X86_PATHS 1
#else
#define FO_HAVE_X86_PATHS 0
#endif
#if FO_HAVE_X86_PATHS
void fo_fill_table_avx2(FO_FILL_ARGS);
void fo_fill_table_avx512(FO_FILL_ARGS);
#endif

static const char *const isa_names[FO_N_ISAS] = {"baseline", "avx2", "avx512"};

static fo_fill_fn isa_filler(int isa)
{
    switch (isa) {
    case FO_ISA_BASELINE: return fo_fill_table_baseline;
#if FO_HAVE_X86_PATHS
    case FO_ISA_AVX2: return fo_fill_table_avx2;
    case FO_ISA_AVX512: return fo_fill_table_avx512;
#endif
    default: return NULL;
    }
}

const char *fo_isa_name(int isa) { return (isa >= 0 && isa < FO_N_ISAS) ? isa_names[isa] : NULL; }
int fo_isa_compiled(int isa) { return isa_filler(isa) != NULL; }

int fo_isa_supported(int isa)
{
    if (!fo_isa_compiled(isa)) return 0;
    if (isa == FO_ISA_BASELINE) return 1;
#if FO_HAVE_X86_PATHS
    __builtin_cpu_init();
    if (isa == FO_ISA_AVX2)   /* (F16C: every AVX2 CPU has it; the path converts float16) */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    if (isa == FO_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#endif
    return 0;
}

int fo_best_isa(void)
{
    for (int isa = FO_N_ISAS - 1; isa > 0; isa--)
        if (fo_isa_supported(isa)) return isa;
    return FO_ISA_BASELINE;
}

/* The table in use. Written by fo_set_isa (at import, or by tests under the GIL), read by
 * every step. */
static fo_dense_fn table[FO_N_ALGOS][FO_N_DTYPES];
static fo_rows_fn rows_table[FO_N_ROW_ALGOS][FO_N_DTYPES];
static fo_coalesce_fn coalesce_table[FO_N_DTYPES];
static fo_probe_fn probe_fn;
static fo_half_fn half_fn;
static fo_half_rows_fn half_rows_fn;
static fo_half_whole_fn half_whole_fn;
static int current_isa = -1, current_half_isa = -1;

int fo_set_isa(int isa)
{
    if (!fo_isa_supported(isa)) return -1;
    isa_filler(isa)(table, &probe_fn, rows_table, coalesce_table, &half_fn, &half_rows_fn,
                      &half_whole_fn);
    current_isa = current_half_isa = isa;
    return 0;
}

/* Half-precision storage (fo_half, fo_half_rows, fo_half_whole) on path isa, the rest as it
 * is. Their float32 work on tiles is the float32 kernel in use (passed in by the caller), and
 * every path gives the same bits, so any mix of paths does too. */
int fo_set_half_isa(int isa)
{
    static fo_dense_fn t[FO_N_ALGOS][FO_N_DTYPES];
    static fo_rows_fn r[FO_N_ROW_ALGOS][FO_N_DTYPES];
    static fo_coalesce_fn c[FO_N_DTYPES];
    fo_probe_fn p;
    if (!fo_isa_supported(isa)) return -1;
    isa_filler(isa)(t, &p, r, c, &half_fn, &half_rows_fn, &half_whole_fn);
    current_half_isa = isa;
    return 0;
}

int fo_current_isa(void) { return current_isa; }
int fo_current_half_isa(void) { return current_half_isa; }

/* ---- the kernels in use (for plan.c) ----------------------------------------------------- */

fo_dense_fn fo_dense_kernel(int algo, int dtype) { return table[algo][dtype]; }
fo_half_fn fo_half(void) { return half_fn; }
fo_half_rows_fn fo_half_rows(void) { return half_rows_fn; }
fo_half_whole_fn fo_half_whole(void) { return half_whole_fn; }
fo_rows_fn fo_row_kernel(int algo, int dtype) { return rows_table[algo][dtype]; }
fo_coalesce_fn fo_coalescer(int dtype) { return coalesce_table[dtype]; }

/* Scalar state is advanced in double, the same on every ISA path: the baseline's functions. */
#define FO_DECLARE_ADVANCE(name)                                                    \
    void fo_##name##_advance_f64_baseline(const void *hyper, int64_t step,         \
                                          const double *old, double *next, unsigned f64);
FO_ADVANCING_KERNELS(FO_DECLARE_ADVANCE)
#undef FO_DECLARE_ADVANCE
#define FO_ADVANCE_ENTRY(name) [FO_ALGO_##name] = fo_##name##_advance_f64_baseline,
static const fo_advance_fn advance_table[FO_N_ALGOS] = {FO_ADVANCING_KERNELS(FO_ADVANCE_ENTRY)};
#undef FO_ADVANCE_ENTRY

fo_advance_fn fo_dense_advance(int algo) { return advance_table[algo]; }

#define FO_WHOLE_ENTRY(name) [FO_ALGO_##name] = 1,
static const unsigned char whole_table[FO_N_ALGOS] = {FO_WHOLE_KERNELS(FO_WHOLE_ENTRY)};
#undef FO_WHOLE_ENTRY

int fo_dense_whole(int algo) { return whole_table[algo]; }

#define FO_COUNT(name) +1
_Static_assert(0 FO_WHOLE_KERNELS(FO_COUNT) FO_ELEMENTWISE_KERNELS(FO_COUNT) == FO_N_ALGOS,
               "registry.h: every dense kernel is in FO_WHOLE_KERNELS or FO_ELEMENTWISE_KERNELS");
#undef FO_COUNT

void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                     int n_state)
{
    probe_fn(dtype, n, p, g, state, n_state);
}
