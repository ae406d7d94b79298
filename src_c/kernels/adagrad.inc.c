/* adagrad ------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/adagrad.py; both compute in this order, so results are bitwise equal.
 *
 * hyper: fo_adagrad_hyper (registry.h)   state: sum
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

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;          /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T clr;           /* the decayed learning rate */
    FO_T eps;
} FO_NAME(adagrad_scalars);

/* the flags a loop is specialised on */
#define FO_ADAGRAD_WEIGHT_DECAY 1u
#define FO_ADAGRAD_EPS_INSIDE 2u
#define FO_ADAGRAD_FROM_ROWS 4u   /* a row kernel's gradient: read as 0 + g */

/* One element or vector: p and s are read and written, g is read. */
#define FO_ADAGRAD_MATH(X, V)                                                                 \
    FO_INLINE void FO_NAME(adagrad_math_##X)(V *p, V g, V *s,                                 \
                                             const FO_NAME(adagrad_scalars) c, const unsigned F) \
    {                                                                                         \
        /* g = -g if maximize (a row kernel reads 0 + g: -0.0 becomes +0.0, as np.add.at) */  \
        if (FO_FLAG(F, FO_ADAGRAD_FROM_ROWS)) g = FO_ROW_READ(g);                             \
        g = c.sign * g;                                                                       \
        /* g = g + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_ADAGRAD_WEIGHT_DECAY)) g = g + c.weight_decay * *p;                 \
        /* s += g * g */                                                                      \
        const V s_ = *s + g * g;                                                              \
        *s = s_;                                                                              \
        /* p -= clr * g / (np.sqrt(s) + eps)   or   / np.sqrt(s + eps) */                     \
        const V den = FO_FLAG(F, FO_ADAGRAD_EPS_INSIDE) ? FO_NAME(sqrt_##X)(s_ + c.eps)       \
                                                        : FO_NAME(sqrt_##X)(s_) + c.eps;      \
        *p = *p - c.clr * g / den;                                                            \
    }
FO_MATH_FNS(FO_ADAGRAD_MATH)
#undef FO_ADAGRAD_MATH

FO_INLINE void FO_NAME(adagrad_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                     FO_ST *FO_RESTRICT s, const FO_NAME(adagrad_scalars) c,
                                     const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, s, p; compute; store s, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(S, s, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(adagrad_math_v)(&P[k], G[k], &S[k], c, F);
        FO_VREADY(S);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(s, i, S);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(adagrad_math_s)(&p[i], g[i], &s[i], c, F);
#endif
}

/* The scalars of a step (shared with adagrad_rows). */
FO_INLINE FO_NAME(adagrad_scalars) FO_NAME(adagrad_scalars_of)(double lr, double lr_decay,
                                                               double weight_decay, double eps,
                                                               double maximize, int64_t step)
{
    FO_NAME(adagrad_scalars) c;
    c.clr = (FO_T)(lr / (1.0 + (double)(step - 1) * lr_decay));
    c.weight_decay = (FO_T)weight_decay;
    c.eps = (FO_T)eps;
    c.sign = maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    return c;
}

void FO_NAME(adagrad)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                      int64_t step)
{
    const fo_adagrad_hyper *h = (const fo_adagrad_hyper *)hyper;
    const FO_NAME(adagrad_scalars) c =
        FO_NAME(adagrad_scalars_of)(h->lr, h->lr_decay, h->weight_decay, h->eps, h->maximize, step);
    const unsigned flags = (h->weight_decay != 0.0 ? FO_ADAGRAD_WEIGHT_DECAY : 0u) |
                           (h->eps_inside_sqrt != 0.0 ? FO_ADAGRAD_EPS_INSIDE : 0u);
#define FO_CALL(F) FO_NAME(adagrad_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], c, F)
    FO_SPECIALIZE_2(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
