/* sparse_adam: lazy Adam, only the touched rows ---------------------------------------------
 *
 * torch.optim.SparseAdam (2.13): the moments and the param change only where the (folded)
 * gradient has rows; untouched rows keep stale moments. SparseRows only (dense gradients
 * are refused by the caller, as torch does). NumPy twin: fastopt/reference/sparse.py.
 *
 * hyper = [lr, beta1, beta2, eps, maximize]
 * state = [exp_avg, exp_avg_sq]   (like the param)
 *
 *   step_size = lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step)     (double, once)
 *   g  = -g if maximize else g                          (read as 0 + g)
 *   m  = m + (g - m) * (1 - beta1)
 *   v  = v + (g * g - v) * (1 - beta2)
 *   p  = p - step_size * (m / (sqrt(v) + eps))
 * (torch's order: its update values u = (g - m) * (1 - beta1) are added to m, and
 * numer = u + m_old, denom = sqrt(u2 + v_old) + eps, the same values.)
 */
FO_INLINE void FO_NAME(sparse_adam_row)(
    size_t dim, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT m,
    FO_T *FO_RESTRICT v, const FO_T sign, const FO_T omb1, const FO_T omb2, const FO_T eps,
    const FO_T step_size)
{
    for (size_t i = 0; i < dim; i++) {
        /* g = sign * (0 + g) */
        const FO_T gi = sign * FO_ROW_READ(g[i]);
        /* m += (g - m) * (1 - beta1) */
        const FO_T mi = m[i] + (gi - m[i]) * omb1;
        m[i] = mi;
        /* v += (g * g - v) * (1 - beta2) */
        const FO_T vi = v[i] + (gi * gi - v[i]) * omb2;
        v[i] = vi;
        /* p -= step_size * (m / (np.sqrt(v) + eps)) */
        p[i] = p[i] - step_size * (mi / (FO_SQRT(vi) + eps));
    }
}

void FO_NAME(sparse_adam)(const fo_row_set *rs, void *p_, void *const *state,
                          const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_sparse_adam_hyper */
    FO_T *p = (FO_T *)p_;
    FO_T *m = (FO_T *)state[0];
    FO_T *v = (FO_T *)state[1];
    const size_t dim = rs->dim;
    const double bc1 = 1.0 - pow(hyper[1], (double)step);
    const double bc2 = 1.0 - pow(hyper[2], (double)step);
    const FO_T step_size = (FO_T)(hyper[0] * sqrt(bc2) / bc1);
    const FO_T omb1 = (FO_T)(1.0 - hyper[1]);
    const FO_T omb2 = (FO_T)(1.0 - hyper[2]);
    const FO_T eps = (FO_T)hyper[3];
    const FO_T sign = hyper[4] != 0.0 ? (FO_T)-1 : (FO_T)1;

    for (size_t j = 0; j < rs->m; j++) {
        const size_t off = fo_row_index(rs, j) * dim;
        if (j + FO_PREFETCH_AHEAD < rs->m) {
            const size_t ahead = fo_row_index(rs, j + FO_PREFETCH_AHEAD) * dim;
            FO_PREFETCH_ROW(p + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(m + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(v + ahead, dim * sizeof(FO_T));
        }
        FO_NAME(sparse_adam_row)(dim, p + off, FO_NAME(row_grad)(rs, j), m + off, v + off, sign,
                                 omb1, omb2, eps, step_size);
    }
}
