/* asgd -----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/asgd.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.ASGD's for-loop step (2.13, not capturable).
 *
 * hyper: fo_asgd_hyper (registry.h)
 * state: ax, mu, eta (mu and eta: scalar state, {before, after} this step, fastopt.h)
 *
 *   decay = 1 - lambd * eta                                    (double, once per call)
 *   g  = -g if maximize else g
 *   g  = g + weight_decay * p                                  (if weight_decay != 0)
 *   p  = p * decay
 *   p  = p + (-eta) * g
 *   ax = ax + (p - ax) * mu            if mu != 1
 *   ax = p                             otherwise
 *   mu  = 1 / max(1, step - t0)                   (asgd_advance: in double, stored in the
 *   eta = lr / (1 + lambd * lr * step)**alpha      buffer's dtype)
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;            /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T decay;           /* 1 - lambd * eta */
    FO_T neg_eta;         /* -eta */
    FO_T mu;
} FO_NAME(asgd_scalars);

/* the flags a loop is specialised on */
#define FO_ASGD_WEIGHT_DECAY 1u   /* g = g + weight_decay * p */
#define FO_ASGD_AVERAGE 2u        /* mu != 1: ax moves towards p (otherwise ax = p) */

/* One element or vector: p and ax are read and written, g is read. */
#define FO_ASGD_MATH(X, V)                                                                    \
    FO_INLINE void FO_NAME(asgd_math_##X)(V *p, V g, V *ax, const FO_NAME(asgd_scalars) c,    \
                                          const unsigned F)                                   \
    {                                                                                         \
        /* g = -g if maximize;  g = g + weight_decay * p */                                   \
        g = c.sign * g;                                                                       \
        if (FO_FLAG(F, FO_ASGD_WEIGHT_DECAY)) g = g + c.weight_decay * *p;                    \
        /* p = p * decay;  p = p + (-eta) * g */                                              \
        V p_ = *p * c.decay;                                                                  \
        p_ = p_ + c.neg_eta * g;                                                              \
        *p = p_;                                                                              \
        /* ax = ax + (p - ax) * mu, or ax = p */                                              \
        if (FO_FLAG(F, FO_ASGD_AVERAGE)) *ax = *ax + (p_ - *ax) * c.mu;                       \
        else *ax = p_;                                                                        \
    }
FO_MATH_FNS(FO_ASGD_MATH)
#undef FO_ASGD_MATH

FO_INLINE void FO_NAME(asgd_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                  FO_ST *FO_RESTRICT ax, const FO_NAME(asgd_scalars) c,
                                  const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, ax, p; compute; store ax, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(A, ax, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(asgd_math_v)(&P[k], G[k], &A[k], c, F);
        FO_VREADY(A);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(ax, i, A);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(asgd_math_s)(&p[i], g[i], &ax[i], c, F);
#endif
}

/* mu and eta for the next step, from this step's count (fo_run rounds them to their buffers'
 * dtypes: torch makes them with torch.as_tensor of a Python float, in its default dtype, and
 * copies them in). */
void FO_NAME(asgd_advance)(const void *hyper, int64_t step, const double *old, double *next,
                           unsigned f64)
{
    const fo_asgd_hyper *h = (const fo_asgd_hyper *)hyper;
    const double t = (double)step;
    const double span = t - h->t0;
    (void)old;
    (void)f64;
    next[1] = 1.0 / (span > 1.0 ? span : 1.0);
    next[2] = h->lr / pow(1.0 + h->lambd * h->lr * t, h->alpha);
}

void FO_NAME(asgd)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                   int64_t step)
{
    const fo_asgd_hyper *h = (const fo_asgd_hyper *)hyper;
    const double mu = ((const double *)state[1])[0];    /* before this step */
    const double eta = ((const double *)state[2])[0];
    (void)step;
    FO_NAME(asgd_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)h->weight_decay;
    c.decay = (FO_T)(1.0 - h->lambd * eta);
    c.neg_eta = (FO_T)-eta;
    c.mu = (FO_T)mu;
    const unsigned flags = (h->weight_decay != 0.0 ? FO_ASGD_WEIGHT_DECAY : 0u) |
                           (mu != 1.0 ? FO_ASGD_AVERAGE : 0u);
#define FO_CALL(F) FO_NAME(asgd_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], c, F)
    FO_SPECIALIZE_2(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
