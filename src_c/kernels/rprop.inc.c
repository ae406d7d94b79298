/* rprop ----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/rprop.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.Rprop's for-loop step (2.13, not capturable).
 *
 * hyper: fo_rprop_hyper (registry.h)
 * state: prev, step_size   (step_size starts at lr: the objects fill it)
 *
 *   g  = -g if maximize else g
 *   d  = g * prev
 *   f  = etaplus if d > 0, etaminus if d < 0, 1 if d == 0 (a NaN d stays NaN: np.sign's)
 *   s  = clip(s * f, step_size_min, step_size_max)
 *   g  = 0 where f == etaminus
 *   p  = p - sign(g) * s
 *   prev = g
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;            /* -1 under maximize, else 1 (exact) */
    FO_T etaminus, etaplus;
    FO_T step_size_min, step_size_max;
} FO_NAME(rprop_scalars);

/* One element or vector: p, prev and s (step_size) are read and written, g is read. select
 * is np.where (vec.h): a compare's result picks a or b, element by element. */
#define FO_RPROP_MATH(X, V)                                                                   \
    FO_INLINE void FO_NAME(rprop_math_##X)(V *p, V g, V *prev, V *s,                          \
                                           const FO_NAME(rprop_scalars) c)                    \
    {                                                                                         \
        const V zero = (V){0};                                                                \
        /* g = -g if maximize;  d = g * prev */                                               \
        g = c.sign * g;                                                                       \
        const V d = g * *prev;                                                                \
        /* f = etaplus where d > 0, etaminus where d < 0, 1 where d == 0, d where NaN */      \
        V f = FO_NAME(select_##X)(d != d, d, zero + (FO_T)1);                                 \
        f = FO_NAME(select_##X)(d < (FO_T)0, zero + c.etaminus, f);                           \
        f = FO_NAME(select_##X)(d > (FO_T)0, zero + c.etaplus, f);                            \
        /* s = np.clip(s * f, step_size_min, step_size_max) */                                \
        V s_ = *s * f;                                                                        \
        s_ = FO_NAME(select_##X)(s_ < c.step_size_min, zero + c.step_size_min, s_);           \
        s_ = FO_NAME(select_##X)(s_ > c.step_size_max, zero + c.step_size_max, s_);           \
        *s = s_;                                                                              \
        /* g[f == etaminus] = 0;  p = p - np.sign(g) * s;  prev = g */                        \
        g = FO_NAME(select_##X)(f == c.etaminus, zero, g);                                    \
        *p = *p - FO_NAME(sign_##X)(g) * s_;                                                  \
        *prev = g;                                                                            \
    }
FO_MATH_FNS(FO_RPROP_MATH)
#undef FO_RPROP_MATH

FO_INLINE void FO_NAME(rprop_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                   FO_ST *FO_RESTRICT prev, FO_ST *FO_RESTRICT s,
                                   const FO_NAME(rprop_scalars) c)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, prev, s, p; compute; store prev, s, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(D, prev, i);
        FO_VLOAD_ALL(S, s, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(rprop_math_v)(&P[k], G[k], &D[k], &S[k], c);
        FO_VREADY(D);
        FO_VREADY(S);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(prev, i, D);
        FO_VSTORE_ALL(s, i, S);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(rprop_math_s)(&p[i], g[i], &prev[i], &s[i], c);
#endif
}

void FO_NAME(rprop)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                    int64_t step)
{
    const fo_rprop_hyper *h = (const fo_rprop_hyper *)hyper;
    (void)step;   /* Rprop's math keeps no step count */
    FO_NAME(rprop_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.etaminus = (FO_T)h->etaminus;
    c.etaplus = (FO_T)h->etaplus;
    c.step_size_min = (FO_T)h->step_size_min;
    c.step_size_max = (FO_T)h->step_size_max;
    /* no flags: maximize is the sign, every branch a select */
    FO_NAME(rprop_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], c);
}

#undef FO_STREAMS
