/* sgd_rows: plain SGD (no momentum, no weight decay) on the touched rows ----------------------
 *
 * torch.optim.SGD with momentum=0, weight_decay=0 on a sparse gradient, after folding
 * repeated rows. NumPy twin: fastopt/reference/sparse.py:sgd_rows.
 *
 * hyper = [lr, maximize]
 * state = []
 *
 *   g = -g if maximize else g
 *   p = p - lr * g                                    (torch: p.add_(g, alpha=-lr))
 */
FO_INLINE void FO_NAME(sgd_row)(size_t dim, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g,
                                const FO_T sign, const FO_T lr)
{
    for (size_t i = 0; i < dim; i++) {
        /* g = sign * (0 + g) */
        const FO_T gi = sign * FO_ROW_READ(g[i]);
        /* p -= lr * g */
        p[i] = p[i] - lr * gi;
    }
}

void FO_NAME(sgd_rows)(const fo_row_set *rs, void *p_, void *const *state, const void *hyper_,
                       int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_sgd_rows_hyper */
    FO_T *p = (FO_T *)p_;
    const FO_T lr = (FO_T)hyper[0];
    const FO_T sign = hyper[1] != 0.0 ? (FO_T)-1 : (FO_T)1;
    (void)state;
    (void)step;
    for (size_t j = 0; j < rs->m; j++) {
        if (j + FO_PREFETCH_AHEAD < rs->m)
            FO_PREFETCH_ROW(p + fo_row_index(rs, j + FO_PREFETCH_AHEAD) * rs->dim,
                            rs->dim * sizeof(FO_T));
        FO_NAME(sgd_row)(rs->dim, p + fo_row_index(rs, j) * rs->dim, FO_NAME(row_grad)(rs, j),
                         sign, lr);
    }
}
