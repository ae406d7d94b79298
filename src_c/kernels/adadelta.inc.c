/* adadelta -----------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/adadelta.py; both compute in this order, so results are bitwise equal.
 * The order is torch.optim.Adadelta's for-loop step (2.13). The step count is not used.
 *
 * hyper: fo_adadelta_hyper (registry.h)   state: square_avg, acc_delta
 *
 *   g     = -g if maximize else g
 *   g     = g + weight_decay * p                       (only if weight_decay != 0)
 *   s     = s * rho
 *   s     = s + ((1 - rho) * g) * g
 *   delta = sqrt(a + eps) / sqrt(s + eps) * g
 *   a     = a * rho
 *   a     = a + ((1 - rho) * delta) * delta
 *   p     = p - lr * delta
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;          /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T lr;
    FO_T rho;
    FO_T one_minus_rho; /* 1 - rho, in double, then rounded */
    FO_T eps;
} FO_NAME(adadelta_scalars);

/* the flags a loop is specialised on */
#define FO_ADADELTA_WEIGHT_DECAY 1u

/* One element or vector: p, s (square_avg) and a (acc_delta) are read and written, g is
 * read. */
#define FO_ADADELTA_MATH(X, V)                                                                \
    FO_INLINE void FO_NAME(adadelta_math_##X)(V *p, V g, V *s, V *a,                          \
                                              const FO_NAME(adadelta_scalars) c,              \
                                              const unsigned F)                               \
    {                                                                                         \
        /* g = -g if maximize  (g = sign * g: exact) */                                       \
        g = c.sign * g;                                                                       \
        /* g = g + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_ADADELTA_WEIGHT_DECAY)) g = g + c.weight_decay * *p;                \
        /* s *= rho;  s += ((1 - rho) * g) * g */                                             \
        V s_ = *s * c.rho;                                                                    \
        s_ = s_ + (c.one_minus_rho * g) * g;                                                  \
        *s = s_;                                                                              \
        /* delta = np.sqrt(a + eps) / np.sqrt(s + eps) * g */                                 \
        const V delta = FO_NAME(sqrt_##X)(*a + c.eps) / FO_NAME(sqrt_##X)(s_ + c.eps) * g;    \
        /* a *= rho;  a += ((1 - rho) * delta) * delta */                                     \
        V a_ = *a * c.rho;                                                                    \
        a_ = a_ + (c.one_minus_rho * delta) * delta;                                          \
        *a = a_;                                                                              \
        /* p -= lr * delta */                                                                 \
        *p = *p - c.lr * delta;                                                               \
    }
FO_MATH_FNS(FO_ADADELTA_MATH)
#undef FO_ADADELTA_MATH

FO_INLINE void FO_NAME(adadelta_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                      FO_ST *FO_RESTRICT s, FO_ST *FO_RESTRICT a,
                                      const FO_NAME(adadelta_scalars) c, const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, s, a, p; compute; store s, a, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(S, s, i);
        FO_VLOAD_ALL(A, a, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(adadelta_math_v)(&P[k], G[k], &S[k], &A[k], c, F);
        FO_VREADY(S);
        FO_VREADY(A);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(s, i, S);
        FO_VSTORE_ALL(a, i, A);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(adadelta_math_s)(&p[i], g[i], &s[i], &a[i], c, F);
#endif
}

void FO_NAME(adadelta)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                       int64_t step)
{
    const fo_adadelta_hyper *h = (const fo_adadelta_hyper *)hyper;
    FO_NAME(adadelta_scalars) c;
    (void)step; /* Adadelta's update does not depend on the step number */
    c.lr = (FO_T)h->lr;
    c.rho = (FO_T)h->rho;
    c.one_minus_rho = (FO_T)(1.0 - h->rho);
    c.eps = (FO_T)h->eps;
    c.weight_decay = (FO_T)h->weight_decay;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    const unsigned flags = h->weight_decay != 0.0 ? FO_ADADELTA_WEIGHT_DECAY : 0u;
#define FO_CALL(F)                                                                            \
    FO_NAME(adadelta_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], \
                           c, F)
    FO_SPECIALIZE_1(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
