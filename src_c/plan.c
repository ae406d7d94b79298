/*
 * plan.c - running a plan: every param's step in one call, all or nothing (fastopt.h, fo_run).
 *
 * fastopt._kernels has converted every Python value and checked every buffer (dtype, shape,
 * layout, writeability, overlap: fo_find_overlap below) before it calls fo_run. What only C
 * can check without a race is checked here, before the first write: the step counters read
 * through pointers, and the row indices, which are copied first and then used only from the
 * copy.
 */
#include <stdlib.h>
#include <string.h>
#include "fastopt.h"

#define FO_TWO_53 9007199254740992.0

/* ---- the call's memory, kept per thread ----
 *
 * A row step's fold workspace is about k/2 rows of scratch per thread; malloc serves a block
 * that large with fresh pages, which the OS zeroes on first touch on every call (measured: 40%
 * of a step of 8192 ids). So each calling thread keeps its last block, up to KEEP_MAX bytes,
 * freed when the thread exits. */
#define KEEP_MAX ((size_t)64 << 20)
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
typedef struct { char *p; size_t size; } kept_block;
static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_ok = 0;
static void kept_free(void *k) { if (k) { free(((kept_block *)k)->p); free(k); } }
static void kept_init(void) { kept_ok = pthread_key_create(&kept_key, kept_free) == 0; }

static char *block_get(size_t size)
{
    pthread_once(&kept_once, kept_init);
    kept_block *k = kept_ok ? (kept_block *)pthread_getspecific(kept_key) : NULL;
    if (k && k->size >= size) return k->p;
    if (size > KEEP_MAX || !kept_ok) return (char *)malloc(size);
    if (!k) {
        k = (kept_block *)calloc(1, sizeof(*k));
        if (!k || pthread_setspecific(kept_key, k)) { free(k); return (char *)malloc(size); }
    }
    free(k->p);
    k->p = (char *)malloc(size);
    k->size = k->p ? size : 0;
    return k->p;
}

static void block_put(char *p)
{
    kept_block *k = kept_ok ? (kept_block *)pthread_getspecific(kept_key) : NULL;
    if (!k || k->p != p) free(p);
}
#else
static char *block_get(size_t size) { return (char *)malloc(size); }
static void block_put(char *p) { free(p); }
#endif

static size_t item_size(int dtype) { return dtype == FO_F32 ? sizeof(float) : sizeof(double); }

static int has_indices(const fo_item *it)
{
    return it->rows && it->index_type != FO_INDEX_NONE && it->k > 0;
}

/* The bytes of one thread's row workspace for item it (a 64-byte multiple; 0: none): the
 * fold's, and a half-precision item's tiles (a dense gradient: tiles only). */
static size_t rows_work(const fo_item *it)
{
    const int half = it->rows ? fo_rows_half(it) : 0;
    if (!has_indices(it) && !half) return 0;
    const size_t size = fo_rows_layout(has_indices(it) ? it->k : 0, it->dim,
                                       item_size(it->dtype), half, NULL, &(fo_rows_work){0});
    return (size + 63) / 64 * 64;
}

/* index = np.asarray(it.index, np.int64) into copy; the first position outside [0, n_rows), or
 * k if there is none */
static size_t copy_indices(const fo_item *it, int64_t *copy)
{
    uint64_t bad = 0;
    if (it->index_type == FO_INDEX_I32) {
        const int32_t *x = (const int32_t *)it->index;
        for (size_t i = 0; i < it->k; i++) {
            copy[i] = x[i];
            bad |= (uint64_t)copy[i] >= (uint64_t)it->n_rows; /* a negative one is huge */
        }
    } else {
        const int64_t *x = (const int64_t *)it->index;
        for (size_t i = 0; i < it->k; i++) {
            copy[i] = x[i];
            bad |= (uint64_t)copy[i] >= (uint64_t)it->n_rows;
        }
    }
    if (!bad) return it->k;
    for (size_t i = 0; i < it->k; i++)
        if ((uint64_t)copy[i] >= (uint64_t)it->n_rows) return i;
    return it->k;
}

/* The step an item passes its kernel, from its counter; 0 if the counter does not allow one. */
static int64_t next_step(const fo_item *it, double *counter_out)
{
    double v;
    if (it->step_kind == FO_STEP_VALUE) return it->step >= 1 ? it->step : 0;
    if (it->step_kind == FO_STEP_F32)
        v = (double)(float)(*(const float *)it->step_counter + 1.0f); /* as torch: in float32 */
    else
        v = *(const double *)it->step_counter + 1.0;
    if (!(v >= 1.0 && v <= FO_TWO_53) || v != (double)(int64_t)v) return 0;
    *counter_out = v;
    return (int64_t)v;
}

int fo_run(size_t n_items, const fo_item *items, int n_threads, fo_status *status)
{
    const fo_item *const given = items;
    /* read once: the row workspaces are sized for the thread counts it gives (another
     * Python thread may change it while this step runs without the GIL) */
    const size_t min_elements = fo_thread_min_elements;
    memset(status, 0, sizeof(*status));
    /* steps: read and check every counter before anything is written */
    int64_t *steps = NULL;
    double *counters = NULL;
    size_t n_idx = 0, work = 0;
    for (size_t i = 0; i < n_items; i++) {
        const fo_item *it = &items[i];
        if (has_indices(it)) n_idx += it->k;
        const size_t stride = rows_work(it);
        const int nt = has_indices(it) ? fo_rows_threads(it->k, it->dim, n_threads,
                                                         min_elements) : 1;
        const size_t all = has_indices(it) ? fo_rows_shared(it, nt) + stride * (size_t)nt
                                           : stride;
        if (all > work) work = all;
        if (fo_item_whole_half(it) && fo_whole_half_floats(it) * sizeof(float) > work)
            work = fo_whole_half_floats(it) * sizeof(float);   /* (run before the rest) */
    }
    /* items with scalar state run from a copy whose scalar buffers point to {old, next} */
    size_t n_scalar_items = 0;
    for (size_t i = 0; i < n_items; i++) n_scalar_items += items[i].scalars != 0;
    const size_t scalar_bytes =
        n_scalar_items ? n_items * sizeof(fo_item) + n_items * FO_MAX_STATE * 2 * sizeof(double)
                       : 0;
    /* one block: steps, counters, the index copies, and one fold workspace (the largest) */
    const size_t head = n_items * (sizeof(int64_t) + sizeof(double)) + n_idx * sizeof(int64_t)
                        + (n_items + 1) * sizeof(size_t)    /* + fo_run_dense's offsets */
                        + scalar_bytes;
    char *block = block_get(head + work + 64 + 1);
    if (!block) {
        status->code = FO_ERR_MEMORY;
        return status->code;
    }
    memset(block, 0, head);   /* (the steps and counters: all set below before any use) */
    steps = (int64_t *)block;
    counters = (double *)(block + n_items * sizeof(int64_t));
    int64_t *idx = (int64_t *)(block + n_items * (sizeof(int64_t) + sizeof(double)));
    size_t *dense_offsets = (size_t *)(idx + n_idx);
    fo_item *run_items = n_scalar_items ? (fo_item *)(dense_offsets + n_items + 1) : NULL;
    double *scalar_values = n_scalar_items ? (double *)(run_items + n_items) : NULL;
    char *base = (char *)(((uintptr_t)(block + head) + 63) & ~(uintptr_t)63);

    size_t off = 0;
    for (size_t i = 0; i < n_items; i++) {
        const fo_item *it = &items[i];
        steps[i] = next_step(it, &counters[i]);
        if (steps[i] == 0) {
            status->code = FO_ERR_STEP;
            status->item = i;
            goto done;
        }
        if (has_indices(it)) {
            const size_t bad = copy_indices(it, idx + off);
            if (bad < it->k) {
                status->code = FO_ERR_INDEX;
                status->item = i;
                status->position = bad;
                status->value = idx[off + bad];
                goto done;
            }
            off += it->k;
        }
    }

    /* scalar state: each buffer's value now and after this step, for the kernels (no write) */
    if (n_scalar_items) {
        memcpy(run_items, items, n_items * sizeof(fo_item));
        for (size_t i = 0; i < n_items; i++) {
            fo_item *it = &run_items[i];
            if (!it->scalars) continue;
            double old[FO_MAX_STATE] = {0}, next[FO_MAX_STATE] = {0};
            double *v = scalar_values + i * FO_MAX_STATE * 2;
            for (int j = 0; j < FO_MAX_STATE; j++)
                if ((it->scalars >> j) & 1u)
                    old[j] = ((it->scalars_f64 >> j) & 1u) ? *(const double *)it->state[j]
                                                           : (double)*(const float *)it->state[j];
            const fo_advance_fn advance = fo_dense_advance(it->kernel);
            if (advance) advance(it->hyper, steps[i], old, next, it->scalars_f64);
            else memcpy(next, old, sizeof(next));   /* (a registry slip: kept, never a crash) */
            for (int j = 0; j < FO_MAX_STATE; j++) {
                if (!((it->scalars >> j) & 1u)) continue;
                v[2 * j] = old[j];
                v[2 * j + 1] = ((it->scalars_f64 >> j) & 1u) ? next[j] : (double)(float)next[j];
                it->state[j] = &v[2 * j];
            }
        }
        items = run_items;   /* (given: the caller's, whose buffers get the new values) */
    }

    /* ---- everything checked: from here on, write ---- */
    off = 0;
    for (size_t i = 0; i < n_items; i++) {
        const fo_item *it = &items[i];
        if (!it->rows) continue;   /* dense items: fo_run_dense, below */
        if (it->index_type == FO_INDEX_NONE && fo_rows_half(it)) {
            /* a dense gradient, half precision: every row, in order, on float32 tiles */
            fo_rows_work w;
            fo_rows_layout(0, it->dim, item_size(it->dtype), fo_rows_half(it), base, &w);
            fo_half_rows()(it, fo_row_kernel(it->kernel, FO_F32), NULL, steps[i], NULL, 0,
                           &w);
        } else if (it->index_type == FO_INDEX_NONE) {
            /* a dense gradient: every row, in order */
            fo_row_set rs = {it->n_rows, it->dim, NULL, NULL, it->g};
            if (rs.m && rs.dim) fo_row_kernel(it->kernel, it->dtype)(&rs, it->p, it->state,
                                                                     it->hyper, steps[i]);
        } else if (it->k) {
            /* fold repeated rows, then update each distinct row (threads.c) */
            fo_run_rows(it, idx + off, steps[i],
                        fo_rows_threads(it->k, it->dim, n_threads, min_elements), base,
                        rows_work(it));
            off += it->k;
        }
    }
    for (size_t i = 0; i < n_items; i++)   /* whole-param kernels on half storage */
        if (fo_item_whole_half(&items[i]))
            fo_half_whole()(&items[i], fo_dense_kernel(items[i].kernel, FO_F32), steps[i],
                            (float *)base);
    fo_run_dense(n_items, items, steps, n_threads, dense_offsets);
    for (size_t i = 0; i < n_items && n_scalar_items; i++) {
        const fo_item *it = &given[i];
        const double *v = scalar_values + i * FO_MAX_STATE * 2;
        for (int j = 0; j < FO_MAX_STATE; j++) {
            if (!((it->scalars >> j) & 1u)) continue;
            if ((it->scalars_f64 >> j) & 1u) *(double *)it->state[j] = v[2 * j + 1];
            else *(float *)it->state[j] = (float)v[2 * j + 1];
        }
    }
    for (size_t i = 0; i < n_items; i++) {
        const fo_item *it = &items[i];
        if (it->step_kind == FO_STEP_F32) *(float *)it->step_counter = (float)counters[i];
        else if (it->step_kind == FO_STEP_F64) *(double *)it->step_counter = counters[i];
    }
done:
    block_put(block);
    return status->code;
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
    if (m <= 32) {   /* a few spans (the per-call case): insertion sort, no callbacks */
        for (size_t i = 1; i < m; i++) {
            fo_span x = spans[i];
            size_t j = i;
            for (; j > 0 && spans[j - 1].start > x.start; j--) spans[j] = spans[j - 1];
            spans[j] = x;
        }
    } else {
        qsort(spans, m, sizeof(fo_span), span_cmp);
    }
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
