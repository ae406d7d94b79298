/* sparse_adam: lazy Adam, only the touched rows ---------------------------------------------
 *
 * torch.optim.SparseAdam (2.13): the moments and the param change only where the (folded)
 * gradient has rows; untouched rows keep stale moments. SparseRows only (dense gradients
 * are refused by the caller, as torch does). Included by isa_body.h once per (ISA, dtype),
 * in its kernel idiom (a row function in place of the dense loop). NumPy twin:
 * fastopt/reference/sparse.py:sparse_adam.
 *
 * hyper: fo_sparse_adam_hyper (registry.h)   state: exp_avg, exp_avg_sq (like the param)
 *
 *   step_size = lr * sqrt(1 - beta2 ** step) / (1 - beta1 ** step)     (double, once)
 *   g  = -g if maximize else g                          (read as 0 + g)
 *   m  = m + (g - m) * (1 - beta1)
 *   v  = v + (g * g - v) * (1 - beta2)
 *   p  = p - step_size * (m / (sqrt(v) + eps))
 * (torch's order: its update values u = (g - m) * (1 - beta1) are added to m, and
 * numer = u + m_old, denom = sqrt(u2 + v_old) + eps, the same values.)
 */

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;             /* -1 under maximize, else 1 (exact) */
    FO_T one_minus_beta1;
    FO_T one_minus_beta2;
    FO_T eps;
    FO_T step_size;        /* lr * sqrt(bc2) / bc1 */
} FO_NAME(sparse_adam_scalars);

/* One element or vector: p, m and v are read and written, g (a row's gradient) is read. */
#define FO_SPARSE_ADAM_MATH(X, V)                                                             \
    FO_INLINE void FO_NAME(sparse_adam_math_##X)(V *p, V g, V *m, V *v,                       \
                                                 const FO_NAME(sparse_adam_scalars) c)        \
    {                                                                                         \
        /* g = -g if maximize (read as 0 + g: -0.0 becomes +0.0, as np.add.at) */             \
        g = c.sign * FO_ROW_READ(g);                                                          \
        /* m += (g - m) * (1 - beta1) */                                                      \
        const V m_ = *m + (g - *m) * c.one_minus_beta1;                                       \
        *m = m_;                                                                              \
        /* v += (g * g - v) * (1 - beta2) */                                                  \
        const V v_ = *v + (g * g - *v) * c.one_minus_beta2;                                   \
        *v = v_;                                                                              \
        /* p -= step_size * (m / (np.sqrt(v) + eps)) */                                       \
        *p = *p - c.step_size * (m_ / (FO_NAME(sqrt_##X)(v_) + c.eps));                       \
    }
FO_MATH_FNS(FO_SPARSE_ADAM_MATH)
#undef FO_SPARSE_ADAM_MATH

/* One row: the plain element loop (the compiler vectorizes it). */
FO_INLINE void FO_NAME(sparse_adam_row)(size_t dim, FO_T *FO_RESTRICT p,
                                        const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT m,
                                        FO_T *FO_RESTRICT v,
                                        const FO_NAME(sparse_adam_scalars) c)
{
    for (size_t i = 0; i < dim; i++) FO_NAME(sparse_adam_math_s)(&p[i], g[i], &m[i], &v[i], c);
}

void FO_NAME(sparse_adam)(const fo_row_set *rs, void *p_, void *const *state,
                          const void *hyper, int64_t step)
{
    const fo_sparse_adam_hyper *h = (const fo_sparse_adam_hyper *)hyper;
    FO_T *p = (FO_T *)p_;
    FO_T *m = (FO_T *)state[0];
    FO_T *v = (FO_T *)state[1];
    const size_t dim = rs->dim;
    const double bc1 = 1.0 - pow(h->beta1, (double)step);
    const double bc2 = 1.0 - pow(h->beta2, (double)step);
    FO_NAME(sparse_adam_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.one_minus_beta1 = (FO_T)(1.0 - h->beta1);
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.eps = (FO_T)h->eps;
    c.step_size = (FO_T)(h->lr * sqrt(bc2) / bc1);
    /* no flags: maximize is the sign, and there is nothing else to specialise on */

    for (size_t j = 0; j < rs->m; j++) {
        const size_t off = fo_row_index(rs, j) * dim;
        if (j + FO_PREFETCH_AHEAD < rs->m) {
            /* rows are random: ask for a later row of p, m and v while this one computes */
            const size_t ahead = fo_row_index(rs, j + FO_PREFETCH_AHEAD) * dim;
            FO_PREFETCH_ROW(p + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(m + ahead, dim * sizeof(FO_T));
            FO_PREFETCH_ROW(v + ahead, dim * sizeof(FO_T));
        }
        FO_NAME(sparse_adam_row)(dim, p + off, FO_NAME(row_grad)(rs, j), m + off, v + off, c);
    }
}
