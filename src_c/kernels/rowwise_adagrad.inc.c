/* rowwise_adagrad: Adagrad with one accumulator per row --------------------------------------
 *
 * For a param of n_rows x dim: state `sum` has n_rows elements. Dense gradients run every
 * row (fo_row_set.rows == NULL), SparseRows only the touched ones (weight_decay must then be
 * 0, as for Adagrad; the caller checks). Included by isa_body.h once per (ISA, dtype), in its
 * kernel idiom (a row function in place of the dense block loop). NumPy twin:
 * fastopt/reference/sparse.py:rowwise_adagrad.
 *
 * hyper: fo_rowwise_adagrad_hyper (registry.h)   state: sum (one per row)
 *
 *   clr  = lr / (1 + (step - 1) * lr_decay)             (double, once per call)
 *   g    = -g if maximize else g                        (read as 0 + g)
 *   g    = g + weight_decay * p                         (only if weight_decay != 0)
 *   ms   = mean(g * g) over the row, summed in 8 lanes:
 *            acc[l] = sum of g[d]^2 for d = l, l + 8, l + 16, ... (in that order, from 0)
 *            ms = (((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))) / dim
 *   s    = s + ms
 *   p    = p - clr * g / (sqrt(s) + eps)                (eps_inside_sqrt: / sqrt(s + eps))
 */

/* the per-step scalars: Adagrad's (adagrad.inc.c, included before this file) */

/* the flags a loop is specialised on */
#define FO_ROWWISE_ADAGRAD_WEIGHT_DECAY 1u
#define FO_ROWWISE_ADAGRAD_EPS_INSIDE 2u

/* One gradient element, as both passes over a row read it (p is read, not written). */
FO_INLINE FO_T FO_NAME(rowwise_adagrad_grad)(FO_T g, const FO_T p,
                                             const FO_NAME(adagrad_scalars) c,
                                             const unsigned F)
{
    /* g = -g if maximize (read as 0 + g: -0.0 becomes +0.0, as np.add.at) */
    g = c.sign * FO_ROW_READ(g);
    /* g = g + weight_decay * p */
    if (FO_FLAG(F, FO_ROWWISE_ADAGRAD_WEIGHT_DECAY)) g = g + c.weight_decay * p;
    return g;
}

/* One row: p (dim elements) and its accumulator *s are read and written, g is read. */
FO_INLINE void FO_NAME(rowwise_adagrad_row)(size_t dim, FO_T *FO_RESTRICT p,
                                            const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s,
                                            const FO_NAME(adagrad_scalars) c,
                                            const unsigned F)
{
    FO_T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t d = 0;
    /* acc[l] += g[d + l] ** 2, eight independent lanes (vectorizes; the order is fixed) */
    for (; d + 8 <= dim; d += 8) {
        for (size_t l = 0; l < 8; l++) {
            const FO_T gi = FO_NAME(rowwise_adagrad_grad)(g[d + l], p[d + l], c, F);
            acc[l] = acc[l] + gi * gi;
        }
    }
    for (size_t l = 0; d < dim; d++, l++) {
        const FO_T gi = FO_NAME(rowwise_adagrad_grad)(g[d], p[d], c, F);
        acc[l] = acc[l] + gi * gi;
    }
    /* s += sum(acc) / dim, pairing lanes as a halving tree: 8 -> 4 -> 2 -> 1 */
    const FO_T total = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                       ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const FO_T si = *s + total / (FO_T)dim;
    *s = si;
    /* den = np.sqrt(s) + eps   or   np.sqrt(s + eps) */
    const FO_T den = FO_FLAG(F, FO_ROWWISE_ADAGRAD_EPS_INSIDE) ? FO_NAME(sqrt_s)(si + c.eps)
                                                              : FO_NAME(sqrt_s)(si) + c.eps;
    for (d = 0; d < dim; d++) {
        const FO_T gi = FO_NAME(rowwise_adagrad_grad)(g[d], p[d], c, F);
        /* p -= clr * g / den */
        p[d] = p[d] - c.clr * gi / den;
    }
}

/* Every row of rs (dim > 0). */
FO_INLINE void FO_NAME(rowwise_adagrad_loop)(const fo_row_set *rs, FO_T *p, FO_T *s,
                                             const FO_NAME(adagrad_scalars) c,
                                             const unsigned F)
{
    for (size_t j = 0; j < rs->m; j++) {
        const size_t r = fo_row_index(rs, j);
        /* touched rows are random: ask for a later row of p while this one computes */
        if (rs->rows && j + FO_PREFETCH_AHEAD < rs->m)
            FO_PREFETCH_ROW(p + (size_t)rs->rows[j + FO_PREFETCH_AHEAD] * rs->dim,
                            rs->dim * sizeof(FO_T));
        FO_NAME(rowwise_adagrad_row)(rs->dim, p + r * rs->dim, FO_NAME(row_grad)(rs, j), s + r,
                                     c, F);
    }
}

void FO_NAME(rowwise_adagrad)(const fo_row_set *rs, void *p, void *const *state,
                              const void *hyper, int64_t step)
{
    const fo_rowwise_adagrad_hyper *h = (const fo_rowwise_adagrad_hyper *)hyper;
    const FO_NAME(adagrad_scalars) c = FO_NAME(adagrad_scalars_of)(
        h->lr, h->lr_decay, h->weight_decay, h->eps, h->maximize, step);
    const unsigned flags = (h->weight_decay != 0.0 ? FO_ROWWISE_ADAGRAD_WEIGHT_DECAY : 0u) |
                           (h->eps_inside_sqrt != 0.0 ? FO_ROWWISE_ADAGRAD_EPS_INSIDE : 0u);

    if (rs->dim == 0) return; /* an empty row has no mean: nothing to do */
#define FO_CALL(F) FO_NAME(rowwise_adagrad_loop)(rs, (FO_T *)p, (FO_T *)state[0], c, F)
    FO_SPECIALIZE_2(flags, FO_CALL);
#undef FO_CALL
}
