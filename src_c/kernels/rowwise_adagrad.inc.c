/* rowwise_adagrad: Adagrad with one accumulator per row --------------------------------------
 *
 * For a param of n_rows x dim: state `sum` has n_rows elements. Dense gradients run every
 * row (fo_row_set.rows == NULL), SparseRows only the touched ones (weight_decay must then be
 * 0, as for Adagrad; the caller checks). NumPy twin: fastopt/reference/sparse.py.
 *
 * hyper = [lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt]
 * state = [sum]   (one per row)
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
FO_INLINE void FO_NAME(rowwise_adagrad_row)(
    size_t dim, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s,
    const FO_T sign, const FO_T weight_decay, const FO_T clr, const FO_T eps,
    const int use_weight_decay, const int eps_inside_sqrt)
{
    FO_T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t d = 0;
    /* acc[l] += g[d + l] ** 2, eight independent lanes (vectorizes; the order is fixed) */
    for (; d + 8 <= dim; d += 8) {
        for (size_t l = 0; l < 8; l++) {
            FO_T gi = sign * FO_ROW_READ(g[d + l]);
            if (use_weight_decay) gi = gi + weight_decay * p[d + l];
            acc[l] = acc[l] + gi * gi;
        }
    }
    for (size_t l = 0; d < dim; d++, l++) {
        FO_T gi = sign * FO_ROW_READ(g[d]);
        if (use_weight_decay) gi = gi + weight_decay * p[d];
        acc[l] = acc[l] + gi * gi;
    }
    /* s += sum(acc) / dim, pairing lanes as a halving tree: 8 -> 4 -> 2 -> 1 */
    const FO_T total = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                       ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const FO_T si = *s + total / (FO_T)dim;
    *s = si;
    /* den = np.sqrt(s) + eps   or   np.sqrt(s + eps) */
    const FO_T den = eps_inside_sqrt ? FO_SQRT(si + eps) : FO_SQRT(si) + eps;
    for (d = 0; d < dim; d++) {
        FO_T gi = sign * FO_ROW_READ(g[d]);
        if (use_weight_decay) gi = gi + weight_decay * p[d];
        /* p -= clr * g / den */
        p[d] = p[d] - clr * gi / den;
    }
}

FO_INLINE void FO_NAME(rowwise_adagrad_all)(
    const fo_row_set *rs, FO_T *p, FO_T *s, const FO_T sign, const FO_T weight_decay,
    const FO_T clr, const FO_T eps, const int use_weight_decay, const int eps_inside_sqrt)
{
    for (size_t j = 0; j < rs->m; j++) {
        const size_t r = fo_row_index(rs, j);
        if (rs->rows && j + FO_PREFETCH_AHEAD < rs->m)
            FO_PREFETCH_ROW(p + (size_t)rs->rows[j + FO_PREFETCH_AHEAD] * rs->dim,
                            rs->dim * sizeof(FO_T));
        FO_NAME(rowwise_adagrad_row)(rs->dim, p + r * rs->dim, FO_NAME(row_grad)(rs, j), s + r,
                                     sign, weight_decay, clr, eps, use_weight_decay,
                                     eps_inside_sqrt);
    }
}

void FO_NAME(rowwise_adagrad)(const fo_row_set *rs, void *p_, void *const *state,
                              const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_rowwise_adagrad_hyper */
    FO_T *p = (FO_T *)p_;
    FO_T *s = (FO_T *)state[0];
    const double clr_d = hyper[0] / (1.0 + (double)(step - 1) * hyper[1]);
    const FO_T clr = (FO_T)clr_d;
    const FO_T wd = (FO_T)hyper[2];
    const FO_T eps = (FO_T)hyper[3];
    const FO_T sign = hyper[4] != 0.0 ? (FO_T)-1 : (FO_T)1;
    const int use_wd = hyper[2] != 0.0;
    const int inside = hyper[5] != 0.0;

    if (rs->dim == 0) return; /* an empty row has no mean: nothing to do */
    if (use_wd && inside)  FO_NAME(rowwise_adagrad_all)(rs, p, s, sign, wd, clr, eps, 1, 1);
    else if (use_wd)       FO_NAME(rowwise_adagrad_all)(rs, p, s, sign, wd, clr, eps, 1, 0);
    else if (inside)       FO_NAME(rowwise_adagrad_all)(rs, p, s, sign, wd, clr, eps, 0, 1);
    else                   FO_NAME(rowwise_adagrad_all)(rs, p, s, sign, wd, clr, eps, 0, 0);
}
