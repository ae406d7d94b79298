/* lion -----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/lion.py; both compute in this order, so results are bitwise equal. The
 * order is Algorithm 2 of Chen et al., "Symbolic Discovery of Optimization Algorithms" (2023):
 * torch.optim has no Lion.
 *
 * hyper: fo_lion_hyper (registry.h)
 * state: exp_avg
 *
 *   g = -g if maximize else g
 *   c = beta1 * m + (1 - beta1) * g                   (1 - beta1 in double, rounded once)
 *   p = p - lr * (sign(c) + weight_decay * p)         (without weight decay: p - lr * sign(c))
 *   m = beta2 * m + (1 - beta2) * g
 *
 * sign is np.sign: 1, -1, +0.0 for either zero, and a NaN as it is.
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;                /* -1 under maximize, else 1 (exact) */
    FO_T beta1, one_minus_beta1;
    FO_T beta2, one_minus_beta2;
    FO_T lr;
    FO_T weight_decay;
} FO_NAME(lion_scalars);

/* the flags a loop is specialised on */
#define FO_LION_WEIGHT_DECAY 1u   /* sign(c) + weight_decay * p */

/* One element or vector: p and m (exp_avg) are read and written, g is read. */
#define FO_LION_MATH(X, V)                                                                    \
    FO_INLINE void FO_NAME(lion_math_##X)(V *p, V g, V *m, const FO_NAME(lion_scalars) c,     \
                                          const unsigned F)                                   \
    {                                                                                         \
        /* g = -g if maximize */                                                              \
        g = c.sign * g;                                                                       \
        const V m_ = *m;                                                                      \
        /* c = beta1 * m + (1 - beta1) * g;  u = np.sign(c) */                                \
        V u = FO_NAME(sign_##X)(c.beta1 * m_ + c.one_minus_beta1 * g);                        \
        /* u = u + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_LION_WEIGHT_DECAY)) u = u + c.weight_decay * *p;                    \
        /* p = p - lr * u */                                                                  \
        *p = *p - c.lr * u;                                                                   \
        /* m = beta2 * m + (1 - beta2) * g */                                                 \
        *m = c.beta2 * m_ + c.one_minus_beta2 * g;                                            \
    }
FO_MATH_FNS(FO_LION_MATH)
#undef FO_LION_MATH

FO_INLINE void FO_NAME(lion_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                  FO_ST *FO_RESTRICT m, const FO_NAME(lion_scalars) c,
                                  const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, p; compute; store m, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(lion_math_v)(&P[k], G[k], &M[k], c, F);
        FO_VREADY(M);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(m, i, M);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(lion_math_s)(&p[i], g[i], &m[i], c, F);
#endif
}

void FO_NAME(lion)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                   int64_t step)
{
    const fo_lion_hyper *h = (const fo_lion_hyper *)hyper;
    (void)step;   /* Lion keeps no step count in its math */
    FO_NAME(lion_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.beta1 = (FO_T)h->beta1;
    c.one_minus_beta1 = (FO_T)(1.0 - h->beta1);
    c.beta2 = (FO_T)h->beta2;
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.lr = (FO_T)h->lr;
    c.weight_decay = (FO_T)h->weight_decay;
    const unsigned flags = h->weight_decay != 0.0 ? FO_LION_WEIGHT_DECAY : 0u;
#define FO_CALL(F) FO_NAME(lion_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], c, F)
    FO_SPECIALIZE_1(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
