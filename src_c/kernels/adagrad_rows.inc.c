/* adagrad_rows: Adagrad on the touched rows of a row-sparse gradient --------------------------
 *
 * torch.optim.Adagrad's sparse path: weight_decay must be 0 (the caller checks), and only
 * the given rows are read or written. Each row runs adagrad.inc.c's loop, so a touched row
 * gets bit for bit what the dense kernel gives it on the densified gradient, and an untouched
 * row is what the dense step leaves unchanged (g = 0). NumPy twin:
 * fastopt/reference/sparse.py:adagrad_rows.
 *
 * hyper = [lr, lr_decay, weight_decay (ignored, 0), eps, maximize, eps_inside_sqrt]
 * state = [sum]   (like the param)
 */
void FO_NAME(adagrad_rows)(const fo_row_set *rs, void *p_, void *const *state,
                           const double *hyper, int64_t step)
{
    FO_T *p = (FO_T *)p_;
    FO_T *s = (FO_T *)state[0];
    const size_t dim = rs->dim;
    const double clr_d = hyper[0] / (1.0 + (double)(step - 1) * hyper[1]);
    const FO_T clr = (FO_T)clr_d;
    const FO_T eps = (FO_T)hyper[3];
    const FO_T sign = hyper[4] != 0.0 ? (FO_T)-1 : (FO_T)1;
    const int inside = hyper[5] != 0.0;

    for (size_t j = 0; j < rs->m; j++) {
        const size_t off = fo_row_index(rs, j) * dim;
        if (j + FO_PREFETCH_AHEAD < rs->m) {
            /* rows are random: ask for a later row of p and s while this one computes */
            const size_t ahead = fo_row_index(rs, j + FO_PREFETCH_AHEAD) * dim;
            FO_PREFETCH_ROW(p + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(s + ahead, dim * sizeof(FO_T));
        }
        const FO_T *g = FO_NAME(row_grad)(rs, j);
        /* the dense loop on this row: s[r] += g * g; p[r] -= clr * g / (sqrt(s[r]) + eps) */
        if (inside) FO_NAME(adagrad_loop)(dim, p + off, g, s + off, sign, 0, clr, eps, 0, 1, 1);
        else        FO_NAME(adagrad_loop)(dim, p + off, g, s + off, sign, 0, clr, eps, 0, 0, 1);
    }
}
