/* adagrad ------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), with FO_T the element type, FO_SQRT its square
 * root and FO_NAME(x) the symbol for this ISA and dtype. The NumPy twin is
 * fastopt/reference/adagrad.py; both compute in this order, so results are bitwise equal.
 *
 * hyper = [lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt]
 * state = [sum]
 *
 *   clr = lr / (1 + (step - 1) * lr_decay)            (double, once per call)
 *   g   = -g if maximize else g
 *   g   = g + weight_decay * p                         (only if weight_decay != 0)
 *   s   = s + g * g
 *   p   = p - clr * g / (sqrt(s) + eps)                (eps_inside_sqrt: / sqrt(s + eps))
 *
 * The row-sparse twin, adagrad_rows.inc.c, runs this same loop on each touched row.
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* One element, or one vector of elements: V is FO_T or FO_V, SQRT its square root. P and S
 * are read and assigned; the scalars (sign, clr, ...) and flags are the loop's arguments. */
#define FO_ADAGRAD_MATH(V, SQRT, P, G, S)                                                    \
    do {                                                                                      \
        /* g = sign * g  (sign is -1 under maximize: exact); a row kernel reads 0 + g */     \
        V g_ = (G);                                                                           \
        if (from_rows) g_ = FO_ROW_READ(g_);                                                  \
        g_ = sign * g_;                                                                       \
        /* g = g + weight_decay * p */                                                        \
        if (use_weight_decay) g_ = g_ + weight_decay * (P);                                   \
        /* s += g * g */                                                                      \
        (S) = (S) + g_ * g_;                                                                  \
        /* p -= clr * g / (np.sqrt(s) + eps)   or   / np.sqrt(s + eps) */                     \
        V den_;                                                                               \
        if (eps_inside_sqrt) den_ = SQRT((S) + eps);                                          \
        else                 den_ = SQRT(S) + eps;                                            \
        (P) = (P) - clr * g_ / den_;                                                          \
    } while (0)

FO_INLINE void FO_NAME(adagrad_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s,
    const FO_T sign, const FO_T weight_decay, const FO_T clr, const FO_T eps,
    const int use_weight_decay, const int eps_inside_sqrt, const int from_rows)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, s, p; compute; store s, p (vec.h says why) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(S, s, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_ADAGRAD_MATH(FO_V, FO_VSQRT, P[k], G[k], S[k]);
        FO_VREADY(S);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(s, i, S);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    for (; i < n; i++) FO_ADAGRAD_MATH(FO_T, FO_SQRT, p[i], g[i], s[i]);
}

#undef FO_ADAGRAD_MATH

void FO_NAME(adagrad)(size_t n, void *p_, const void *g_, void *const *state,
                      const double *hyper, int64_t step)
{
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *s = (FO_T *)state[0];
    const double clr_d = hyper[0] / (1.0 + (double)(step - 1) * hyper[1]);
    const FO_T clr = (FO_T)clr_d;
    const FO_T weight_decay = (FO_T)hyper[2];
    const FO_T eps = (FO_T)hyper[3];
    const FO_T sign = hyper[4] != 0.0 ? (FO_T)-1 : (FO_T)1;
    const int use_wd = hyper[2] != 0.0;
    const int inside = hyper[5] != 0.0;

    /* Each branch is the same loop with the flags fixed, so each vectorizes on its own. */
    if (use_wd && inside)  FO_NAME(adagrad_loop)(n, p, g, s, sign, weight_decay, clr, eps, 1, 1, 0);
    else if (use_wd)       FO_NAME(adagrad_loop)(n, p, g, s, sign, weight_decay, clr, eps, 1, 0, 0);
    else if (inside)       FO_NAME(adagrad_loop)(n, p, g, s, sign, weight_decay, clr, eps, 0, 1, 0);
    else                   FO_NAME(adagrad_loop)(n, p, g, s, sign, weight_decay, clr, eps, 0, 0, 0);
}

#undef FO_STREAMS
