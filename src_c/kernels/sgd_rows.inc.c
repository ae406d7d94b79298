/* sgd_rows: plain SGD (no momentum, no weight decay) on the touched rows ----------------------
 *
 * torch.optim.SGD with momentum=0, weight_decay=0 on a sparse gradient, after folding
 * repeated rows. Each row runs sgd.inc.c's loop, so a touched row gets bit for bit what the
 * dense kernel gives it on the densified gradient. NumPy twin:
 * fastopt/reference/sparse.py:sgd_rows.
 *
 * hyper: fo_sgd_rows_hyper (registry.h)   state: none
 *
 *   g = -g if maximize else g                         (g read as 0 + g, as np.add.at)
 *   p = p - lr * g                                    (torch: p.add_(g, alpha=-lr))
 */
void FO_NAME(sgd_rows)(const fo_row_set *rs, void *p_, void *const *state, const void *hyper,
                       int64_t step)
{
    const fo_sgd_rows_hyper *h = (const fo_sgd_rows_hyper *)hyper;
    FO_T *p = (FO_T *)p_;
    const size_t dim = rs->dim;
    const FO_NAME(sgd_scalars) c = FO_NAME(sgd_scalars_of)(h->lr, 0.0, 0.0, 0.0, h->maximize);
    (void)state;
    (void)step;

    for (size_t j = 0; j < rs->m; j++) {
        /* rows are random: ask for a later row of p while this one computes */
        if (j + FO_PREFETCH_AHEAD < rs->m)
            FO_PREFETCH_ROW(p + fo_row_index(rs, j + FO_PREFETCH_AHEAD) * dim,
                            dim * sizeof(FO_T));
        /* the dense loop on this row, no momentum buffer: p[r] -= lr * (sign * (0 + g)) */
        FO_NAME(sgd_loop)(dim, p + fo_row_index(rs, j) * dim, FO_NAME(row_grad)(rs, j), NULL, c,
                          FO_SGD_FROM_ROWS);
    }
}
