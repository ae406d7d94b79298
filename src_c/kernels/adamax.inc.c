/* adamax ---------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/adamax.py; both compute in this order, so results are bitwise equal.
 * The order is torch.optim.Adamax's for-loop step (2.13, not capturable).
 *
 * hyper: fo_adamax_hyper (registry.h)
 * state: exp_avg, exp_inf
 *
 *   clr = lr / (1 - beta1**step)                        (double, once per call)
 *   w   = 1 - beta1                                     (rounded to the dtype)
 *   g = -g if maximize else g
 *   g = g + weight_decay * p                            (if weight_decay != 0)
 *   m = m + w * (g - m)              if w < 0.5         (torch's lerp, both branches)
 *   m = g + (w - 1) * (g - m)        otherwise
 *   u = maximum(u * beta2, abs(g) + eps)
 *   p = p - (clr * m) / u
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;           /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T coeff;          /* the lerp weight: w, or w - 1 when w >= 0.5 */
    FO_T beta2;
    FO_T eps;
    FO_T clr;            /* lr / (1 - beta1**step) */
} FO_NAME(adamax_scalars);

/* the flags a loop is specialised on */
#define FO_ADAMAX_WEIGHT_DECAY 1u   /* g = g + weight_decay * p */
#define FO_ADAMAX_LERP_HIGH 2u      /* w >= 0.5: torch's lerp from the g side */

/* One element or vector: p, m (exp_avg) and u (exp_inf) are read and written, g is read. */
#define FO_ADAMAX_MATH(X, V)                                                                  \
    FO_INLINE void FO_NAME(adamax_math_##X)(V *p, V g, V *m, V *u,                            \
                                            const FO_NAME(adamax_scalars) c,                  \
                                            const unsigned F)                                 \
    {                                                                                         \
        /* g = -g if maximize */                                                              \
        g = c.sign * g;                                                                       \
        const V p_ = *p;                                                                      \
        /* g = g + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_ADAMAX_WEIGHT_DECAY)) g = g + c.weight_decay * p_;                  \
        /* m = m.lerp(g, w): m + w (g - m), or g + (w - 1) (g - m) if w >= 0.5 (vec.h) */     \
        const V m_ = FO_NAME(lerp_##X)(*m, g, c.coeff, FO_FLAG(F, FO_ADAMAX_LERP_HIGH));      \
        *m = m_;                                                                              \
        /* u = np.maximum(u * beta2, np.abs(g) + eps)  (abs: g's sign bit cleared) */         \
        const V u_ = FO_NAME(maximum_##X)(*u * c.beta2, FO_NAME(abs_##X)(g) + c.eps);         \
        *u = u_;                                                                              \
        /* p = p - (clr * m) / u */                                                           \
        *p = p_ - (c.clr * m_) / u_;                                                          \
    }
FO_MATH_FNS(FO_ADAMAX_MATH)
#undef FO_ADAMAX_MATH

FO_INLINE void FO_NAME(adamax_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                    FO_ST *FO_RESTRICT m, FO_ST *FO_RESTRICT u,
                                    const FO_NAME(adamax_scalars) c, const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, u, p; compute; store m, u, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(U, u, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(adamax_math_v)(&P[k], G[k], &M[k], &U[k], c, F);
        FO_VREADY(M);
        FO_VREADY(U);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(m, i, M);
        FO_VSTORE_ALL(u, i, U);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(adamax_math_s)(&p[i], g[i], &m[i], &u[i], c, F);
#endif
}

void FO_NAME(adamax)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                     int64_t step)
{
    const fo_adamax_hyper *h = (const fo_adamax_hyper *)hyper;
    const double bias_correction = 1.0 - pow(h->beta1, (double)step);
    int lerp_high;
    const FO_T coeff = FO_NAME(lerp_coeff)(h->beta1, &lerp_high);
    FO_NAME(adamax_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)h->weight_decay;
    c.coeff = coeff;       /* in the dtype, as torch's lerp */
    c.beta2 = (FO_T)h->beta2;
    c.eps = (FO_T)h->eps;
    c.clr = (FO_T)(h->lr / bias_correction);
    const unsigned flags = (h->weight_decay != 0.0 ? FO_ADAMAX_WEIGHT_DECAY : 0u) |
                           (lerp_high ? FO_ADAMAX_LERP_HIGH : 0u);
#define FO_CALL(F) \
    FO_NAME(adamax_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], c, F)
    FO_SPECIALIZE_2(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
