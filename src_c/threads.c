/*
 * threads.c - the dense items of a plan on every core: one static split of all their elements.
 *
 * The dense items' elements, taken in plan order as one list of `total`, are cut into
 * n_threads runs of about total / n_threads elements each. A cut that falls inside an item is
 * moved down to a multiple of FO_CHUNK elements from that item's start (64 or 128 bytes: whole
 * cache lines of an aligned buffer, so no two threads write one line), and every thread
 * computes the same cuts, so the runs tile the list. Each thread then calls the items' kernels
 * on its run's pieces. An elementwise kernel gives each element the same math whatever piece
 * it is in (the vector and plain loops agree bitwise), so results do not depend on the thread
 * count. 161 tensors of uneven sizes split as evenly as one large tensor. A kernel with a
 * reduction over its whole param (LAMB's norms; registry.h: FO_WHOLE_KERNELS) is never cut: a
 * cut inside such an item moves to its start, so one thread runs it, in its fixed order.
 *
 * NumPy-equivalent (one thread, what every thread count computes):
 *     for it in dense items: kernel(it.p, it.g, it.state, it.hyper, step)
 *
 * The runtime is OpenMP (as scikit-learn and DeepSpeed use, and threadpoolctl can limit).
 * A child forked after the module loaded runs single-threaded: GNU OpenMP's pool does not
 * survive fork (torch does the same).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fastopt.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FO_HAVE_ATFORK 1
#endif

#define FO_CHUNK 16   /* elements: a cut inside an item is at a multiple of this */

size_t fo_thread_min_elements = 65536;

static volatile int forked_child = 0;

#ifdef FO_HAVE_ATFORK
static void on_fork_child(void) { forked_child = 1; }

__attribute__((constructor)) static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}
#endif

int fo_in_forked_child(void) { return forked_child; }

/* The fold workspace of one row item with k indices (see fastopt.h). */
size_t fo_rows_layout(size_t k, size_t dim, size_t item, int half, char *base, fo_rows_work *w)
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
    w->values32 = NULL;   /* (shared by the item's threads: fo_rows_shared) */
    w->tiles = NULL;
    if (half) { FO_TAKE(w->tiles, float *, (2 + FO_MAX_STATE) * fo_row_tile(dim) * sizeof(float), 64) }
#undef FO_TAKE
    w->mask = cap - 1;
    w->shift = 64 - bits;
    return off;
}

/* The threads a dense step of `total` elements runs on: at most n_threads, and none with
 * fewer than fo_thread_min_elements elements (one thread in a forked child). */
static int dense_threads(size_t total, int n_threads)
{
    const size_t min = fo_thread_min_elements ? fo_thread_min_elements : 1;
    int nt = n_threads < 1 ? 1 : n_threads;
    if ((size_t)nt > total / min) nt = (int)(total / min);
    return nt < 1 || forked_child ? 1 : nt;
}

int fo_threads_runtime(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fo_threads_max(void)
{
#ifdef _OPENMP
    return forked_child ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/* The first element of run t of nt: total * t / nt, moved down to a chunk boundary of the
 * item it falls in (offsets[i] is the first element of dense item i, offsets[m] = total), or
 * to its start if the item's kernel takes it whole (dense[i], when given, says). */
static size_t cut(const size_t *offsets, size_t m, size_t total, int t, int nt,
                  const fo_item *const *dense)
{
    if (t >= nt) return total;
    const size_t x = (size_t)((unsigned __int128)total * (unsigned)t / (unsigned)nt);
    size_t lo = 0, hi = m;       /* the item i with offsets[i] <= x < offsets[i + 1] */
    while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        if (offsets[mid] <= x) lo = mid; else hi = mid;
    }
    if (dense && fo_dense_whole(dense[lo]->kernel)) return offsets[lo];
    return offsets[lo] + (x - offsets[lo]) / FO_CHUNK * FO_CHUNK;
}

/* Elements [start, end) of the dense list: each piece through its item's kernel. */
static void run_range(size_t m, const fo_item *const *dense, const int64_t *steps_of,
                      const size_t *offsets, size_t start, size_t end)
{
    for (size_t i = 0; i < m && start < end; i++) {
        const size_t a = offsets[i], b = offsets[i + 1];
        if (b <= start) continue;
        if (a >= end) break;
        const fo_item *it = dense[i];
        const size_t lo = (start > a ? start : a) - a, hi = (end < b ? end : b) - a;
        if (fo_item_half(it)) {   /* half-precision storage: tiles through the f32 kernel */
            fo_half()(it, fo_dense_kernel(it->kernel, FO_F32), lo, hi, steps_of[i]);
            continue;
        }
        const size_t item = it->dtype == FO_F32 ? sizeof(float) : sizeof(double);
        void *state[FO_MAX_STATE];
        for (int j = 0; j < FO_MAX_STATE; j++)   /* a scalar buffer is the same for every piece */
            state[j] = !it->state[j] || ((it->scalars >> j) & 1u) ? it->state[j]
                                                                 : (char *)it->state[j] + lo * item;
        fo_dense_kernel(it->kernel, it->dtype)(hi - lo, (char *)it->p + lo * item,
                                               (const char *)it->g + lo * item, state,
                                               it->hyper, steps_of[i]);
    }
}

/* The dense items fo_run_dense runs: those with elements, but for whole-param kernels stored
 * in half precision (fo_run runs them itself: fo_half_whole). */
static int listed(const fo_item *it) { return !it->rows && it->n && !fo_item_whole_half(it); }

void fo_run_dense(size_t n_items, const fo_item *items, const int64_t *steps, int n_threads,
                  size_t *offsets)
{
    /* the dense items with elements, in plan order; offsets[i]: first element of item i.
     * `offsets` has room for n_items + 1 entries; the item pointers and steps go on the
     * stack in groups, so the plan needs no more memory. */
    size_t m = 0, total = 0;
    for (size_t i = 0; i < n_items; i++)
        if (listed(&items[i])) m++;
    if (m == 0) return;
    const fo_item *stack_items[64];
    int64_t stack_steps[64];
    const fo_item **dense = stack_items;
    int64_t *steps_of = stack_steps;
    void *heap = NULL;
    if (m > 64) {
        heap = malloc(m * (sizeof(*dense) + sizeof(*steps_of)));
        if (heap) {
            dense = (const fo_item **)heap;
            steps_of = (int64_t *)(dense + m);
        }
    }
    if (m > 64 && !heap) {    /* no memory for the list: one thread, in order */
        for (size_t i = 0; i < n_items; i++) {
            const fo_item *it = &items[i];
            if (listed(it) && fo_item_half(it))
                fo_half()(it, fo_dense_kernel(it->kernel, FO_F32), 0, it->n, steps[i]);
            else if (listed(it))
                fo_dense_kernel(it->kernel, it->dtype)(it->n, it->p, it->g, it->state,
                                                       it->hyper, steps[i]);
        }
        return;
    }
    for (size_t i = 0, k = 0; i < n_items; i++) {
        if (!listed(&items[i])) continue;
        dense[k] = &items[i];
        steps_of[k] = steps[i];
        offsets[k] = total;
        total += items[i].n;
        k++;
    }
    offsets[m] = total;

    const int nt = dense_threads(total, n_threads);
    (void)nt;   /* (without OpenMP: one thread) */
#ifdef _OPENMP
    if (nt > 1) {
        #pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), got = omp_get_num_threads();
            run_range(m, dense, steps_of, offsets, cut(offsets, m, total, t, got, dense),
                      cut(offsets, m, total, t + 1, got, dense));
        }
    } else
#endif
    run_range(m, dense, steps_of, offsets, 0, total);
    free(heap);
}

/* ---- row-sparse items ----
 *
 * A row's fold (its values summed in order of appearance, rows.inc.c) and its update (the row
 * kernel) are each one thread's work, in a fixed order; which thread does them does not change
 * a bit, so results are the same for any thread count. NumPy-equivalent (every count):
 *     G = coalesce(index, values)            # fastopt/reference/sparse.py
 *     for r in G.rows: kernel(p[r], G[r], state[r], hyper, step)
 *
 * On nt > 1 threads, balanced for skewed ids (with Zipf ids one row can hold a fifth of a
 * batch, so a split of the rows by hash alone leaves one thread with far more to fold):
 *   1. each thread maps its slice of the k indices to one of P = 8 * nt parts (row_parts_of, a
 *      fixed function of the row) and counts the indices of each part;
 *   2. the threads sum the counts, then one deals the parts out, largest count first, each
 *      to the thread with the fewest indices so far (folding costs about one row add per
 *      index): every index's owner;
 *   3. each thread lists the positions of the indices it owns (reading all k owners, without
 *      a branch) and folds those, in order;
 *   4. the distinct rows of all threads, taken as one list, are updated in nt equal runs (an
 *      update costs about the same per row). A half-precision item updates the rows it folded
 *      (half.h gathers them into its own float32 tiles).
 */
int fo_rows_threads(size_t k, size_t dim, int n_threads, size_t min_elements)
{
    const size_t min = min_elements ? min_elements : 1;
    int nt = n_threads < 1 || forked_child ? 1 : n_threads;
    if ((size_t)nt > k * dim / min) nt = (int)(k * dim / min);
    if ((size_t)nt > k) nt = (int)k;
    if (nt > 4096) nt = 4096;   /* (parts and owners fit in 16 bits) */
    return nt < 1 ? 1 : nt;
}

#ifdef _OPENMP
/* The part (of parts) of row r: floor(mix(r) * parts / 2^32) from the top 32 bits of
 * fo_row_mix, a multiply and a shift. */
static unsigned row_parts_of(int64_t r, unsigned parts)
{
    return (unsigned)(((fo_row_mix(r) >> 32) * parts) >> 32);
}
#endif

/* P: 8 parts per thread, at most 2048 (the counts are nt x P; beyond 256 threads some get
 * fewer parts) */
static unsigned row_parts(int nt) { return nt > 256 ? 2048u : 8u * (unsigned)nt; }

/* What a row item's threads share (fo_rows_shared bytes at the start of its workspace). */
typedef struct {
    float *values32;       /* a half item's values read as float32: k x dim */
    uint16_t *owner;       /* k: each index's part, then its thread (nt > 1) */
    uint32_t *counts;      /* nt x P: each thread's slice's indices per part */
    uint64_t *order;       /* P: (count << 32) | (P - 1 - part), to deal largest first */
    uint16_t *part_owner;  /* P */
    size_t *m;             /* nt: the distinct rows each thread folded */
    uint32_t *mine;        /* nt x k: each thread's positions, in order */
} rows_shared;

static void *take(char *base, size_t *off, size_t bytes)
{
    void *at = base ? base + *off : NULL;
    *off += (bytes + 63) / 64 * 64;
    return at;
}

static size_t rows_shared_layout(const fo_item *it, int nt, char *base, rows_shared *sh)
{
    size_t off = 0;
    const size_t P = row_parts(nt);
    memset(sh, 0, sizeof *sh);
    if (fo_rows_half(it) == 2) sh->values32 = take(base, &off, it->k * it->dim * sizeof(float));
    if (nt > 1) {
        sh->owner = take(base, &off, it->k * sizeof(uint16_t));
        sh->counts = take(base, &off, (size_t)nt * P * sizeof(uint32_t));
        sh->order = take(base, &off, P * sizeof(uint64_t));
        sh->part_owner = take(base, &off, P * sizeof(uint16_t));
        sh->m = take(base, &off, (size_t)nt * sizeof(size_t));
        sh->mine = take(base, &off, (size_t)nt * it->k * sizeof(uint32_t));
    }
    return off;
}

size_t fo_rows_shared(const fo_item *it, int nt)
{
    rows_shared sh;
    return rows_shared_layout(it, nt, NULL, &sh);
}

#ifdef _OPENMP
static int by_count_down(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Step 2: part_owner from the parts' keys in sh->order (P parts, nt threads): largest count
 * first, each to the thread with the fewest indices so far; beyond 64 threads, in a snake
 * over the threads (0, 1, ..., nt - 1, nt - 1, ..., 0, ...), which needs no search. */
static void deal_parts(const rows_shared *sh, unsigned P, unsigned nt)
{
    uint64_t load[64] = {0};
    qsort(sh->order, P, sizeof(uint64_t), by_count_down);
    for (unsigned j = 0; j < P; j++) {
        unsigned best = 0;
        if (nt <= 64) {
            for (unsigned t = 1; t < nt; t++)
                if (load[t] < load[best]) best = t;
            load[best] += sh->order[j] >> 32;
        } else {
            best = (j / nt) % 2 ? nt - 1 - j % nt : j % nt;
        }
        sh->part_owner[P - 1 - (uint32_t)sh->order[j]] = (uint16_t)best;
    }
}

/* Thread t of nt's share of a row item's step (see above); w is its own workspace. */
static void rows_balanced(const fo_item *it, const int64_t *idx, int64_t step, char *base,
                          size_t work, const rows_shared *sh, unsigned t, unsigned nt)
{
    const size_t k = it->k, dim = it->dim;
    const size_t item = it->dtype == FO_F32 ? sizeof(float) : sizeof(double);
    const size_t lo = k * t / nt, hi = k * (t + 1) / nt;
    const unsigned P = row_parts((int)nt);
    uint32_t *count = sh->counts + (size_t)t * P;
    memset(count, 0, P * sizeof(uint32_t));
    for (size_t i = lo; i < hi; i++) {   /* 1 */
        const unsigned q = row_parts_of(idx[i], P);
        sh->owner[i] = (uint16_t)q;
        count[q]++;
    }
    #pragma omp barrier
    for (unsigned q = P * t / nt; q < P * (t + 1) / nt; q++) {   /* 2: each its share of parts */
        uint64_t c = 0;
        for (unsigned s = 0; s < nt; s++) c += sh->counts[(size_t)s * P + q];
        sh->order[q] = (c << 32) | (P - 1 - q);
    }
    #pragma omp barrier
    #pragma omp single
    deal_parts(sh, P, nt);   /* (the single's barrier follows) */
    for (size_t i = lo; i < hi; i++) sh->owner[i] = sh->part_owner[sh->owner[i]];
    #pragma omp barrier
    uint32_t *mine = sh->mine + (size_t)t * k;   /* 3 */
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        mine[n] = (uint32_t)i;
        n += sh->owner[i] == t;
    }
    fo_rows_work w;
    fo_rows_layout(k, dim, item, fo_rows_half(it), base + (size_t)t * work, &w);
    w.values32 = sh->values32;
    if (fo_rows_half(it)) {   /* and its own rows' updates, in float32 (half.h) */
        fo_half_rows()(it, fo_row_kernel(it->kernel, FO_F32), idx, step, mine, n, &w);
        return;
    }
    sh->m[t] = fo_coalescer(it->dtype)(dim, idx, it->g, mine, n, &w);
    #pragma omp barrier
    size_t total = 0, first = 0;   /* 4: rows [a, b) of every thread's rows in turn */
    for (unsigned s = 0; s < nt; s++) total += sh->m[s];
    const size_t a = total * t / nt, b = total * (t + 1) / nt;
    for (unsigned s = 0; s < nt && first < b; first += sh->m[s], s++) {
        const size_t x = a > first ? a - first : 0;
        const size_t y = b - first < sh->m[s] ? b - first : sh->m[s];
        if (x >= y || !dim) continue;
        fo_rows_work ws;
        fo_rows_layout(k, dim, item, 0, base + (size_t)s * work, &ws);
        const fo_row_set rs = {y - x, dim, ws.rows + x, (const void *const *)ws.grad + x, NULL};
        fo_row_kernel(it->kernel, it->dtype)(&rs, it->p, it->state, it->hyper, step);
    }
}
#endif

void fo_run_rows(const fo_item *it, const int64_t *idx, int64_t step, int nt, char *base,
                 size_t work)
{
    rows_shared sh;
    char *const own = base + rows_shared_layout(it, nt, base, &sh);
#ifdef _OPENMP
    if (nt > 1) {
        #pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num(), got = omp_get_num_threads();
            rows_balanced(it, idx, step, own, work, &sh, (unsigned)t, (unsigned)got);
        }
        return;
    }
#endif
    (void)work;   /* one thread: fold every row, then update them */
    const size_t item = it->dtype == FO_F32 ? sizeof(float) : sizeof(double);
    fo_rows_work w;
    fo_rows_layout(it->k, it->dim, item, fo_rows_half(it), own, &w);
    w.values32 = sh.values32;
    if (fo_rows_half(it)) {
        fo_half_rows()(it, fo_row_kernel(it->kernel, FO_F32), idx, step, NULL, it->k, &w);
        return;
    }
    fo_row_set rs = {0, it->dim, w.rows, (const void *const *)w.grad, NULL};
    rs.m = fo_coalescer(it->dtype)(it->dim, idx, it->g, NULL, it->k, &w);
    if (rs.m && rs.dim) fo_row_kernel(it->kernel, it->dtype)(&rs, it->p, it->state,
                                                             it->hyper, step);
}

/* The benchmark's memory probe on up to n_threads threads, cut as a one-item plan is:
 *     p += g; s += g for each state buffer s   (each thread on its run of elements) */
void fo_stream_probe_threads(int dtype, size_t n, void *p, const void *g, void *const *state,
                             int n_state, int n_threads)
{
    const size_t item = dtype == FO_F32 ? sizeof(float) : sizeof(double);
    size_t offsets[2] = {0, n};
    const int nt = dense_threads(n, n_threads);   /* as a dense step of n elements splits */
    if (nt == 1) {
        fo_stream_probe(dtype, n, p, g, state, n_state);
        return;
    }
#ifdef _OPENMP
    #pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), got = omp_get_num_threads();
#else
    {
        const int t = 0, got = 1;
        (void)nt;
#endif
        const size_t a = cut(offsets, 1, n, t, got, NULL);
        const size_t b = cut(offsets, 1, n, t + 1, got, NULL);
        void *st[FO_MAX_STATE] = {0};
        for (int j = 0; j < n_state && j < FO_MAX_STATE; j++)
            st[j] = (char *)state[j] + a * item;
        if (b > a)
            fo_stream_probe(dtype, b - a, (char *)p + a * item, (const char *)g + a * item, st,
                            n_state);
    }
}
