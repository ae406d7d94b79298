/*
 * half.h - running an item stored in half precision, for the ISA path being compiled
 * (included once by isa_body.h, after half_convert.h and the storage compiles).
 *
 * An item whose param (and grad) is bfloat16 or float16, whose param has float32 master
 * weights, or whose state is stored in bfloat16 (fastopt.h: fo_item's p_dtype, master,
 * state_dtype) gets the float32 step of its kernel on every element, then one rounding:
 *
 *     P   = master                 with master weights (in place), else float32(p)
 *     G   = float32(g)
 *     S_j = float32(s_j)           (s_j itself where the state is float32)
 *     the float32 kernel's math on P, G, S
 *     p   = rne(P)                 round to nearest even, to the param's dtype
 *     s_j = rne(S_j)               or, for bfloat16 state of a float32 param,
 *         = sr(S_j)                stochastic rounding (below)
 *
 * A dense item of an elementwise kernel runs in one of two ways, which give the same bits
 * (row items and whole-param kernels: the sections at the end):
 *   - fused: the kernel's storage compile (isa_body.h: its vector blocks load and store
 *     through half_convert.h's conversions) over the largest multiple of FO_HALF_BLOCK
 *     elements, for the kernels of registry.h's FO_ELEMENTWISE_KERNELS without master weights;
 *   - tiles: the rest (and master weights) on tiles of FO_TILE float32 elements held in L1,
 *     converted in, through the float32 kernel unchanged, converted out.
 * So results equal fastopt.reference run in float32 and rounded (fastopt/reference/half.py),
 * bitwise, whatever the ISA path, the split between the two, or the thread count. Each array
 * is read once and written once per step either way.
 *
 * Stochastic rounding of x (float32 bits u) to bfloat16 adds 16 random bits below the kept
 * ones and truncates: (u + r) >> 16, so x rounds away from zero with probability equal to
 * the dropped fraction (unbiased). r depends only on (seed, the param's index, step, state
 * buffer j, the element's index): the same for any thread count, reproducible from the seed.
 *
 *     k   = mix64(seed + GOLDEN * (index + 1))      (per param: fo_item.seed is the sum)
 *     key = low32(mix64(k ^ (step * 4 + j / 2) ^ ((i >> 32) << 56)))   (per tile)
 *     h   = mix32(low32(i) ^ key)                                     (per element i)
 *     r   = h >> 16 for even j, h & 0xffff for odd j
 *
 * so buffers 0 and 1 (Adam's exp_avg and exp_avg_sq) share one hash per element, 16 bits
 * each, and 2 and 3 another: the hash is the costly part of the rounding.
 *
 * (mix64: splitmix64's finalizer; mix32: murmur3's.)
 */

#if FO_VBYTES
/* The storage compiles of each elementwise kernel (isa_body.h): bf16, f16, bf16sr. */
#define FO_STORED_ENTRY(name)                                                           \
    [FO_ALGO_##name] = {FO_CAT3(name, bf16, FO_ISA), FO_CAT3(name, f16, FO_ISA),        \
                        FO_CAT3(name, bf16sr, FO_ISA)},
static const fo_dense_fn FO_ISA_NAME(stored)[FO_N_ALGOS][3] = {
    FO_ELEMENTWISE_KERNELS(FO_STORED_ENTRY)};
#undef FO_STORED_ENTRY

/* Elements [lo, lo + nb) of an item through its storage compile (nb: a multiple of
 * FO_HALF_BLOCK, within one 2^32 block of the index): the same float32 math and roundings as
 * the tiles, the conversions inside the kernel's loop. */
static void FO_ISA_NAME(run_stored)(const fo_item *it, fo_dense_fn fused, size_t lo, size_t nb,
                                    int64_t step, uint64_t seed)
{
    const size_t ps = it->p_dtype == FO_F32 ? 4 : 2, ss = it->state_dtype == FO_F32 ? 4 : 2;
    const int stochastic = fo_item_stochastic(it);
    void *state[FO_MAX_STATE];
    FO_ISA_NAME(sr_call) *c = FO_ISA_NAME(sr_here)();
    c->second = 0;
    for (int j = 0; j < FO_MAX_STATE; j++) {
        const int plain = !it->state[j] || ((it->scalars >> j) & 1u);
        state[j] = plain ? it->state[j] : (char *)it->state[j] + ss * lo;
        if (!stochastic) continue;
        c->base[j] = plain ? 0 : (uintptr_t)state[j];
        c->key[j / 2] = fo_sr_key(seed, step, j / 2, lo);
        if (!plain && j >= 2) c->second = 1;
    }
    c->first = (uint32_t)lo;
    fused(nb, (char *)it->p + ps * lo, (const char *)it->g + ps * lo, state, it->hyper, step);
}
#endif

/* x[0, n) = float32(src): a half run converted, a float32 one copied. */
static void FO_ISA_NAME(run_in)(int dtype, size_t n, const void *src, float *x)
{
    if (dtype == FO_F32) memcpy(x, src, n * sizeof(float));
    else FO_ISA_NAME(half_load)(dtype, n, (const uint16_t *)src, x);
}

/* dst[0, n) = x rounded to dtype (nearest even; stochastic for bfloat16 state of a float32
 * param, numbered from element `first` of state buffer j), or copied for float32. */
static void FO_ISA_NAME(run_out)(int dtype, int stochastic, size_t n, const float *x, void *dst,
                                 uint64_t seed, int64_t step, int j, uint64_t first)
{
    if (dtype == FO_F32) {
        memcpy(dst, x, n * sizeof(float));
    } else if (!stochastic) {
        FO_ISA_NAME(half_store)(dtype, n, x, (uint16_t *)dst);
    } else {
        while (n) {   /* (one key per 2^32 elements of the index, as the dense tiles) */
            const uint64_t room = (((first >> 32) + 1) << 32) - first;
            const size_t m = (uint64_t)n < room ? n : (size_t)room;
            FO_ISA_NAME(bf16_store_sr)(m, x, (uint16_t *)dst, seed, step, j, first);
            n -= m;
            x += m;
            dst = (uint16_t *)dst + m;
            first += m;
        }
    }
}

/* Elements [lo, hi) of a half-precision item: whole blocks through the kernel's storage
 * compile where it has one, the rest on float32 tiles through the float32 kernel (above). */
static void FO_ISA_NAME(run_half)(const fo_item *it, fo_dense_fn kernel, size_t lo, size_t hi,
                                  int64_t step)
{
    float P[FO_TILE] __attribute__((aligned(64)));
    float G[FO_TILE] __attribute__((aligned(64)));
    float S[FO_MAX_STATE][FO_TILE] __attribute__((aligned(64)));
    const int half_p = it->p_dtype != FO_F32, half_s = it->state_dtype != FO_F32;
    const int stochastic = fo_item_stochastic(it);
    const uint64_t seed = fo_mix64(it->seed);
#if FO_VBYTES
    const int which = it->master ? -1 : it->p_dtype == FO_BF16 ? 0 : it->p_dtype == FO_F16 ? 1
                      : fo_item_stochastic(it) ? 2 : -1;
    const fo_dense_fn fused = which >= 0 ? FO_ISA_NAME(stored)[it->kernel][which] : NULL;
    size_t nb = (hi - lo) / FO_HALF_BLOCK * FO_HALF_BLOCK;
    if (nb && (lo >> 32) != ((lo + nb - 1) >> 32)) nb = 0;   /* (tiles: the keys change) */
    if (fused && nb) {
        FO_ISA_NAME(run_stored)(it, fused, lo, nb, step, seed);
        lo += nb;
    }
#endif
    size_t a = lo;
    while (a < hi) {
        size_t b = (a / FO_TILE + 1) * FO_TILE;
        if (b > hi) b = hi;
        const size_t m = b - a;
        float *p = it->master ? (float *)it->master + a : half_p ? P : (float *)it->p + a;
        const float *g = G;
        if (half_p) {
            if (!it->master) FO_ISA_NAME(half_load)(it->p_dtype, m, (const uint16_t *)it->p + a, P);
            FO_ISA_NAME(half_load)(it->p_dtype, m, (const uint16_t *)it->g + a, G);
        } else {
            g = (const float *)it->g + a;
        }
        void *state[FO_MAX_STATE];
        for (int j = 0; j < FO_MAX_STATE; j++) {
            if (!it->state[j] || ((it->scalars >> j) & 1u)) {
                state[j] = it->state[j];   /* off, or scalar state: the same for every tile */
            } else if (half_s) {
                FO_ISA_NAME(half_load)(it->state_dtype, m, (const uint16_t *)it->state[j] + a,
                                       S[j]);
                state[j] = S[j];
            } else {
                state[j] = (float *)it->state[j] + a;
            }
        }
        kernel(m, p, g, state, it->hyper, step);
        if (half_p)
            FO_ISA_NAME(run_out)(it->p_dtype, 0, m, p, (uint16_t *)it->p + a, 0, 0, 0, 0);
        for (int j = 0; j < FO_MAX_STATE && half_s; j++) {
            if (!it->state[j] || ((it->scalars >> j) & 1u)) continue;
            FO_ISA_NAME(run_out)(it->state_dtype, stochastic, m, S[j],
                                 (uint16_t *)it->state[j] + a, seed, step, j, a);
        }
        a = b;
    }
}

/* ---- row items ----------------------------------------------------------------------------
 *
 * A row item (row kernels: a 2-D table and the rows a row-sparse gradient touches) stored in
 * half precision gets the same: the float32 row step on each touched row, then one rounding.
 * Its half values are read as float32 first (this thread's rows only), the fold runs on
 * them in float32 (rows.inc.c), and the touched rows are gathered into float32 tiles, b whole
 * rows at a time (b * dim <= fo_row_tile(dim)), stepped there as rows 0..b-1 of a small table
 * by the float32 row kernel, and scattered back:
 *
 *     G = coalesce(index, float32(values))        # fastopt/reference/sparse.py
 *     for each batch B of G's rows:
 *         P = master[B] or float32(p[B]);  S_j = float32(s_j[B])
 *         row_kernel(P, G[B], S, hyper, step)
 *         master[B] = P;  p[B] = rne(P);  s_j[B] = rne(S_j) or sr(S_j)
 *
 * Stochastic rounding numbers element (r, d) of the table r * dim + d (a per-row buffer: r),
 * as the dense step numbers it, so a row step rounds each element as a dense step would.
 */

static void FO_ISA_NAME(run_half_rows)(const fo_item *it, fo_rows_fn kernel,
                                       const int64_t *idx, int64_t step,
                                       const uint32_t *pos, size_t n, fo_rows_work *w)
{
    const size_t dim = it->dim, tile = fo_row_tile(dim), per = tile / (dim ? dim : 1);
    const size_t ps = it->p_dtype == FO_F32 ? 4 : 2, ss = it->state_dtype == FO_F32 ? 4 : 2;
    const int stochastic = fo_item_stochastic(it);
    const uint64_t seed = fo_mix64(it->seed);
    float *const P = w->tiles, *const G = w->tiles + tile;
    float *S[FO_MAX_STATE];
    void *st[FO_MAX_STATE];
    for (int j = 0; j < FO_MAX_STATE; j++) {
        S[j] = w->tiles + (size_t)(2 + j) * tile;
        st[j] = it->state[j] ? S[j] : NULL;
    }
    fo_row_set rs = {it->n_rows, dim, NULL, NULL, it->g};   /* a dense gradient: every row */
    if (idx) {
        const void *values = it->g;
        if (it->p_dtype != FO_F32) {   /* this thread's values, read as float32 */
            for (size_t j = 0; j < n; j++) {
                const size_t i = pos ? pos[j] : j;
                FO_ISA_NAME(half_load)(it->p_dtype, dim, (const uint16_t *)it->g + i * dim,
                                       w->values32 + i * dim);
            }
            values = w->values32;
        }
        rs.m = FO_CAT3(coalesce, f32, FO_ISA)(dim, idx, values, pos, n, w);
        rs.rows = w->rows;
        rs.grad = (const void *const *)w->grad;
    }
    if (!dim) return;
    for (size_t j0 = 0; j0 < rs.m; j0 += per) {
        const size_t b = rs.m - j0 < per ? rs.m - j0 : per;
        for (size_t q = 0; q < b; q++) {   /* gather */
            const size_t r = fo_row_index(&rs, j0 + q);
            if (it->master) memcpy(P + q * dim, (const float *)it->master + r * dim, dim * 4);
            else FO_ISA_NAME(run_in)(it->p_dtype, dim, (const char *)it->p + ps * r * dim,
                                     P + q * dim);
            if (!idx) FO_ISA_NAME(run_in)(it->p_dtype, dim, (const char *)it->g + ps * r * dim,
                                          G + q * dim);
            for (int j = 0; j < FO_MAX_STATE; j++) {
                if (!it->state[j]) continue;
                const size_t e = it->state_n[j] / it->n_rows;   /* dim, or 1 per row */
                FO_ISA_NAME(run_in)(it->state_dtype, e, (const char *)it->state[j] + ss * r * e,
                                    S[j] + q * e);
            }
        }
        const fo_row_set sub = {b, dim, NULL, idx ? rs.grad + j0 : NULL, G};
        kernel(&sub, P, st, it->hyper, step);
        for (size_t q = 0; q < b; q++) {   /* scatter, rounding once */
            const size_t r = fo_row_index(&rs, j0 + q);
            if (it->master) memcpy((float *)it->master + r * dim, P + q * dim, dim * 4);
            FO_ISA_NAME(run_out)(it->p_dtype, 0, dim, P + q * dim, (char *)it->p + ps * r * dim,
                                 0, 0, 0, 0);
            for (int j = 0; j < FO_MAX_STATE; j++) {
                if (!it->state[j]) continue;
                const size_t e = it->state_n[j] / it->n_rows;   /* dim, or 1 per row */
                FO_ISA_NAME(run_out)(it->state_dtype, stochastic, e, S[j] + q * e,
                                     (char *)it->state[j] + ss * r * e, seed, step, j,
                                     (uint64_t)r * e);
            }
        }
    }
}

/* ---- whole-param kernels ------------------------------------------------------------------
 *
 * Lamb and Adafactor reduce over a whole param (norms, row and column sums) between their
 * passes, so a pass cannot round what the next one reads: their half items run on float32
 * copies of every half array (fo_run lays out `work` before it writes anything, for the
 * largest such item; fo_whole_half_floats), then each is rounded back once:
 *
 *     P, G, S_j = master or float32(p), float32(g), float32(s_j)
 *     kernel(P, G, S, hyper, step)                 # all its passes, in float32
 *     master = P;  p = rne(P);  s_j = rne(S_j) or sr(S_j)
 *
 * which is fastopt/reference/half.py's half_step on the float32 reference, bit for bit.
 * Stochastic rounding numbers each state buffer's elements from 0 in its own layout (a
 * factored buffer: its rows or columns). */
static void FO_ISA_NAME(run_half_whole)(const fo_item *it, fo_dense_fn kernel, int64_t step,
                                        float *work)
{
    const size_t n = it->n;
    const int half_p = it->p_dtype != FO_F32, half_s = it->state_dtype != FO_F32;
    float *P = it->master ? (float *)it->master : half_p ? work : (float *)it->p;
    if (half_p && !it->master) work += n;
    float *G = half_p ? work : (float *)it->g;
    if (half_p) work += n;
    if (half_p && !it->master) FO_ISA_NAME(run_in)(it->p_dtype, n, it->p, P);
    if (half_p) FO_ISA_NAME(run_in)(it->p_dtype, n, it->g, G);
    void *state[FO_MAX_STATE];
    for (int j = 0; j < FO_MAX_STATE; j++) {
        state[j] = it->state[j];
        if (!half_s || !it->state[j] || ((it->scalars >> j) & 1u)) continue;
        FO_ISA_NAME(run_in)(it->state_dtype, it->state_n[j], it->state[j], work);
        state[j] = work;
        work += it->state_n[j];
    }
    kernel(n, P, G, state, it->hyper, step);
    if (half_p) FO_ISA_NAME(run_out)(it->p_dtype, 0, n, P, it->p, 0, 0, 0, 0);
    const uint64_t seed = fo_mix64(it->seed);
    for (int j = 0; j < FO_MAX_STATE; j++)
        if (state[j] != it->state[j])
            FO_ISA_NAME(run_out)(it->state_dtype, fo_item_stochastic(it), it->state_n[j],
                                 (const float *)state[j], it->state[j], seed, step, j, 0);
}
