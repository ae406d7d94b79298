/* sgd ----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/sgd.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.SGD's for-loop one.
 *
 * hyper: fo_sgd_hyper (registry.h)
 * state: momentum_buffer   (NULL, and never touched, when momentum == 0)
 *
 *   g   = -g if maximize else g
 *   g   = g + weight_decay * p                         (only if weight_decay != 0)
 *   if momentum != 0:
 *       b = g                                          (step == 1: b is only written)
 *       b = b * momentum + (1 - dampening) * g         (step > 1; 1 - dampening in double)
 *       g = g + momentum * b   if nesterov   else   g = b
 *   p   = p - lr * g
 *
 * The row-sparse twin, sgd_rows.inc.c, runs this same loop (no momentum, no weight decay) on
 * each touched row.
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;                  /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T momentum;
    FO_T one_minus_dampening;   /* 1 - dampening, in double, rounded once */
    FO_T lr;
} FO_NAME(sgd_scalars);

/* the flags a loop is specialised on */
#define FO_SGD_WEIGHT_DECAY 1u
#define FO_SGD_NESTEROV 2u    /* only with FO_SGD_MOMENTUM */
#define FO_SGD_FIRST 4u       /* step == 1: b = g, b is only written (only with FO_SGD_MOMENTUM) */
#define FO_SGD_MOMENTUM 8u
#define FO_SGD_FROM_ROWS 16u  /* a row kernel's gradient: read as 0 + g */

/* One element or vector: p is read and written; b is written (and read after step 1) only
 * with momentum, and never touched (it may be NULL) without; g is read. */
#define FO_SGD_MATH(X, V)                                                                     \
    FO_INLINE void FO_NAME(sgd_math_##X)(V *p, V g, V *b, const FO_NAME(sgd_scalars) c,       \
                                         const unsigned F)                                    \
    {                                                                                         \
        /* g = -g if maximize (a row kernel reads 0 + g: -0.0 becomes +0.0, as np.add.at) */  \
        if (FO_FLAG(F, FO_SGD_FROM_ROWS)) g = FO_ROW_READ(g);                                 \
        g = c.sign * g;                                                                       \
        /* g = g + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_SGD_WEIGHT_DECAY)) g = g + c.weight_decay * *p;                     \
        if (FO_FLAG(F, FO_SGD_MOMENTUM)) {                                                    \
            /* b[...] = g   (step 1)   or   b[...] = b * momentum + (1 - dampening) * g */    \
            const V b_ = FO_FLAG(F, FO_SGD_FIRST)                                             \
                             ? g                                                              \
                             : *b * c.momentum + c.one_minus_dampening * g;                   \
            *b = b_;                                                                          \
            /* g = g + momentum * b if nesterov else b */                                     \
            g = FO_FLAG(F, FO_SGD_NESTEROV) ? g + c.momentum * b_ : b_;                       \
        }                                                                                     \
        /* p -= lr * g */                                                                     \
        *p = *p - c.lr * g;                                                                   \
    }
FO_MATH_FNS(FO_SGD_MATH)
#undef FO_SGD_MATH

FO_INLINE void FO_NAME(sgd_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                 FO_ST *FO_RESTRICT b, const FO_NAME(sgd_scalars) c,
                                 const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, b (with momentum, after step 1), p; compute; store b (with momentum),
     * p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_V B[FO_VU];
        FO_VEACH(k) {
            if (FO_FLAG(F, FO_SGD_MOMENTUM) && !FO_FLAG(F, FO_SGD_FIRST))
                B[k] = FO_VLOAD_AT(b + i + (size_t)k * FO_VLANES);
        }
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(sgd_math_v)(&P[k], G[k], &B[k], c, F);
        if (FO_FLAG(F, FO_SGD_MOMENTUM)) FO_VREADY(B);
        FO_VREADY(P);
        FO_VSTORES();
        if (FO_FLAG(F, FO_SGD_MOMENTUM)) FO_VSTORE_ALL(b, i, B);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    /* (without momentum b is NULL: no pointer is formed into it) */
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++)
        FO_NAME(sgd_math_s)(&p[i], g[i], FO_FLAG(F, FO_SGD_MOMENTUM) ? &b[i] : NULL, c, F);
#endif
}

/* The scalars of a step (shared with sgd_rows). */
FO_INLINE FO_NAME(sgd_scalars) FO_NAME(sgd_scalars_of)(double lr, double momentum,
                                                       double dampening, double weight_decay,
                                                       double maximize)
{
    FO_NAME(sgd_scalars) c;
    c.sign = maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)weight_decay;
    c.momentum = (FO_T)momentum;
    c.one_minus_dampening = (FO_T)(1.0 - dampening);
    c.lr = (FO_T)lr;
    return c;
}

void FO_NAME(sgd)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                  int64_t step)
{
    const fo_sgd_hyper *h = (const fo_sgd_hyper *)hyper;
    const FO_NAME(sgd_scalars) c =
        FO_NAME(sgd_scalars_of)(h->lr, h->momentum, h->dampening, h->weight_decay, h->maximize);
    /* nesterov and the first step only count with momentum: 10 distinct loops of the 16 */
    const unsigned momentum_flags =
        FO_SGD_MOMENTUM | (h->nesterov != 0.0 ? FO_SGD_NESTEROV : 0u) |
        (step == 1 ? FO_SGD_FIRST : 0u);
    const unsigned flags = (h->weight_decay != 0.0 ? FO_SGD_WEIGHT_DECAY : 0u) |
                           (h->momentum != 0.0 ? momentum_flags : 0u);
    /* state[0]: the momentum buffer, NULL when momentum == 0 */
#define FO_CALL(F) FO_NAME(sgd_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], c, F)
    FO_SPECIALIZE_4(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
