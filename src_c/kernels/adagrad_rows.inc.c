/* adagrad_rows: Adagrad on the touched rows of a row-sparse gradient --------------------------
 *
 * torch.optim.Adagrad's sparse path: no weight decay (torch refuses it there), and only the
 * given rows are read or written. Each row runs adagrad.inc.c's loop, so a touched row gets
 * bit for bit what the dense kernel gives it on the densified gradient, and an untouched row
 * is what the dense step leaves unchanged (g = 0). NumPy twin:
 * fastopt/reference/sparse.py:adagrad_rows.
 *
 * hyper: fo_adagrad_rows_hyper (registry.h)   state: sum (like the param)
 */
void FO_NAME(adagrad_rows)(const fo_row_set *rs, void *p_, void *const *state,
                           const void *hyper, int64_t step)
{
    const fo_adagrad_rows_hyper *h = (const fo_adagrad_rows_hyper *)hyper;
    FO_T *p = (FO_T *)p_;
    FO_T *s = (FO_T *)state[0];
    const size_t dim = rs->dim;
    const FO_NAME(adagrad_scalars) c =
        FO_NAME(adagrad_scalars_of)(h->lr, h->lr_decay, 0.0, h->eps, h->maximize, step);
    const unsigned flags =
        FO_ADAGRAD_FROM_ROWS | (h->eps_inside_sqrt != 0.0 ? FO_ADAGRAD_EPS_INSIDE : 0u);

    for (size_t j = 0; j < rs->m; j++) {
        const size_t off = fo_row_index(rs, j) * dim;
        if (j + FO_PREFETCH_AHEAD < rs->m) {
            /* rows are random: ask for a later row of p and s while this one computes */
            const size_t ahead = fo_row_index(rs, j + FO_PREFETCH_AHEAD) * dim;
            FO_PREFETCH_ROW(p + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(s + ahead, dim * sizeof(FO_T));
        }
        /* the dense loop on this row: s[r] += g * g; p[r] -= clr * g / (sqrt(s[r]) + eps) */
        const FO_T *g = FO_NAME(row_grad)(rs, j);
#define FO_CALL(F) FO_NAME(adagrad_loop)(dim, p + off, g, s + off, c, F)
        if (flags & FO_ADAGRAD_EPS_INSIDE) FO_CALL(FO_ADAGRAD_FROM_ROWS | FO_ADAGRAD_EPS_INSIDE);
        else                               FO_CALL(FO_ADAGRAD_FROM_ROWS);
#undef FO_CALL
    }
}
