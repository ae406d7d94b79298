/*
 * dispatch.c - which ISA path runs, chosen once, and the loop over parameters.
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

/* the number of state buffers of a registry state string */
static size_t n_state_of(const char *names)
{
    size_t n = *names ? 1 : 0;
    for (; *names; names++) n += *names == ',';
    return n;
}

/* ---- the ISA paths --------------------------------------------------------------------- */

typedef void (*fo_probe_fn)(int, size_t, void *, const void *, void *const *, int);
#define FO_FILL_ARGS                                                                    \
    fo_dense_fn table[][FO_N_DTYPES], fo_probe_fn *probe, fo_rows_fn rows[][FO_N_DTYPES], \
        fo_coalesce_fn coalesce[FO_N_DTYPES]
typedef void (*fo_fill_fn)(FO_FILL_ARGS);

void fo_fill_table_baseline(FO_FILL_ARGS);
#define FO_HAVE_X86_PATHS (FO_X86 && (defined(__GNUC__) || defined(__clang__)))
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
    if (isa == FO_ISA_AVX2) return __builtin_cpu_supports("avx2") != 0;
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
static int current_isa = -1;

int fo_set_isa(int isa)
{
    if (!fo_isa_supported(isa)) return -1;
    isa_filler(isa)(table, &probe_fn, rows_table, coalesce_table);
    current_isa = isa;
    return 0;
}

int fo_current_isa(void) { return current_isa; }

/* ---- running ---------------------------------------------------------------------------- */

void fo_run_dense(int algo, size_t k, const int *dtype, const size_t *n, void *const *p,
                  const void *const *g, void *const *state, const double *hyper,
                  const int64_t *step)
{
    const size_t n_state = n_state_of(dense_kernels[algo].state_names);
    const size_t n_hyper = (size_t)dense_kernels[algo].n_hyper;
    for (size_t i = 0; i < k; i++) {
        if (n[i] == 0) continue;
        table[algo][dtype[i]](n[i], p[i], g[i], state + i * n_state, hyper + i * n_hyper,
                              step[i]);
    }
}

/* ---- row-sparse steps ------------------------------------------------------------------ */

/* Lays out the fold workspace for k indices at base (NULL: only measure); returns its size. */
static size_t rows_work_layout(size_t k, size_t dim, size_t item, char *base, fo_rows_work *w)
{
    size_t cap = 16, off = 0;
    unsigned bits = 4;
    while (cap < 2 * k) { cap <<= 1; bits++; }
#define FO_TAKE(ptr, type, count, align)                                       \
    off = (off + (align) - 1) / (align) * (align);                             \
    if (base) (ptr) = (type)(base + off);                                      \
    off += (count);
    FO_TAKE(w->table, uint32_t *, cap * sizeof(uint32_t), 64)
    FO_TAKE(w->rows, int64_t *, k * sizeof(int64_t), 8)
    FO_TAKE(w->grad, const void **, k * sizeof(void *), 8)
    FO_TAKE(w->dup, uint32_t *, k * sizeof(uint32_t), 8)
    FO_TAKE(w->scratch, void *, (k / 2) * dim * item, 64)
#undef FO_TAKE
    w->mask = cap - 1;
    w->shift = 64 - bits;
    return off + 64; /* + slack to align base itself */
}

int fo_run_rows(int algo, size_t n_jobs, const fo_rows_job *jobs)
{
    size_t need = 0;
    fo_rows_work w;
    /* one workspace, big enough for the largest job, allocated before anything is written */
    for (size_t i = 0; i < n_jobs; i++) {
        const fo_rows_job *job = &jobs[i];
        if (job->index_type == FO_INDEX_NONE || job->k == 0) continue;
        const size_t item = job->dtype == FO_F32 ? sizeof(float) : sizeof(double);
        const size_t size = rows_work_layout(job->k, job->dim, item, NULL, &w);
        if (size > need) need = size;
    }
    void *block = NULL;
    char *base = NULL;
    if (need) {
        block = malloc(need);
        if (!block) return -1;
        base = (char *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    }
    for (size_t i = 0; i < n_jobs; i++) {
        const fo_rows_job *job = &jobs[i];
        fo_row_set rs;
        rs.dim = job->dim;
        if (job->index_type == FO_INDEX_NONE) {
            /* a dense gradient: every row, in order */
            rs.m = job->n_rows;
            rs.rows = NULL;
            rs.grad = NULL;
            rs.dense = job->values;
        } else {
            if (job->k == 0) continue;
            const size_t item = job->dtype == FO_F32 ? sizeof(float) : sizeof(double);
            rows_work_layout(job->k, job->dim, item, base, &w);
            rs.m = coalesce_table[job->dtype](job->k, job->dim, job->index_type, job->index,
                                              job->values, &w);
            rs.rows = w.rows;
            rs.grad = (const void *const *)w.grad;
            rs.dense = NULL;
        }
        if (rs.m == 0 || rs.dim == 0) continue;
        rows_table[algo][job->dtype](&rs, job->p, job->state, job->hyper, job->step);
    }
    free(block);
    return 0;
}

int64_t fo_check_index(int index_type, const void *index, size_t k, size_t n_rows)
{
    /* one branch-free pass (a negative index is a huge unsigned one), then find the culprit */
    uint64_t bad = 0;
    if (index_type == FO_INDEX_I32) {
        const int32_t *x = (const int32_t *)index;
        for (size_t i = 0; i < k; i++) bad |= (uint64_t)(int64_t)x[i] >= (uint64_t)n_rows;
        if (bad)
            for (size_t i = 0; i < k; i++)
                if ((uint64_t)(int64_t)x[i] >= (uint64_t)n_rows) return (int64_t)i;
    } else {
        const int64_t *x = (const int64_t *)index;
        for (size_t i = 0; i < k; i++) bad |= (uint64_t)x[i] >= (uint64_t)n_rows;
        if (bad)
            for (size_t i = 0; i < k; i++)
                if ((uint64_t)x[i] >= (uint64_t)n_rows) return (int64_t)i;
    }
    return -1;
}

void fo_stream_probe(int dtype, size_t n, void *p, const void *g, void *const *state,
                     int n_state)
{
    probe_fn(dtype, n, p, g, state, n_state);
}

/* ---- overlap check ---------------------------------------------------------------------- */

static int span_cmp(const void *x, const void *y)
{
    const fo_span *a = (const fo_span *)x, *b = (const fo_span *)y;
    return (a->start > b->start) - (a->start < b->start);
}

int fo_find_overlap(size_t m, fo_span *spans, fo_span *a, fo_span *b)
{
    /* Sweep in order of start, remembering the span reaching furthest so far (any) and the
     * written span reaching furthest so far: a span overlaps an earlier one iff it starts
     * before that one's end. */
    size_t best_any = (size_t)-1, best_written = (size_t)-1;
    qsort(spans, m, sizeof(fo_span), span_cmp);
    for (size_t i = 0; i < m; i++) {
        const fo_span *s = &spans[i];
        if (s->end <= s->start) continue;
        if (best_written != (size_t)-1 && s->start < spans[best_written].end) {
            *a = spans[best_written]; *b = *s; return 1;
        }
        if (s->writable && best_any != (size_t)-1 && s->start < spans[best_any].end) {
            *a = spans[best_any]; *b = *s; return 1;
        }
        if (best_any == (size_t)-1 || s->end > spans[best_any].end) best_any = i;
        if (s->writable && (best_written == (size_t)-1 || s->end > spans[best_written].end))
            best_written = i;
    }
    return 0;
}
