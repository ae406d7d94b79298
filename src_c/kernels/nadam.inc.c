/* nadam ----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/nadam.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.NAdam's for-loop step (2.13, not capturable).
 *
 * hyper: fo_nadam_hyper (registry.h)
 * state: exp_avg, exp_avg_sq, mu_product (scalar state: {before, after} this step, fastopt.h)
 *
 *   bc2     = 1 - beta2**step                                  (double, once per call)
 *   mu      = beta1 * (1 - 0.5 * 0.96**(step * momentum_decay))          (double)
 *   mu_next = beta1 * (1 - 0.5 * 0.96**((step + 1) * momentum_decay))    (double)
 *   mu_product = mu_product * mu                  (nadam_advance: in mu_product's dtype)
 *   c_grad  = -lr * (1 - mu) / (1 - mu_product)                          (double)
 *   c_avg   = -lr * mu_next / (1 - mu_product * mu_next)                 (double)
 *   w       = 1 - beta1                                        (rounded to the dtype)
 *   g  = -g if maximize else g
 *   g  = g + weight_decay * p                                  (L2, if weight_decay != 0)
 *   p  = p * (1 - lr * weight_decay)                           (decoupled, if weight_decay != 0)
 *   m  = m + w * (g - m)              if w < 0.5               (torch's lerp, both branches)
 *   m  = g + (w - 1) * (g - m)        otherwise
 *   v  = v * beta2
 *   v  = v + ((1 - beta2) * g) * g
 *   d  = sqrt(v / bc2) + eps
 *   p  = p + (c_grad * g) / d                                  (torch's addcdiv)
 *   p  = p + (c_avg * m) / d
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;            /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;    /* the L2 term */
    FO_T decay;           /* decoupled: 1 - lr * weight_decay */
    FO_T coeff;           /* the lerp weight: w, or w - 1 when w >= 0.5 */
    FO_T beta2;
    FO_T one_minus_beta2;
    FO_T bc2;
    FO_T eps;
    FO_T c_grad;
    FO_T c_avg;
} FO_NAME(nadam_scalars);

/* the flags a loop is specialised on (weight decay: none, L2 or decoupled, never both bits) */
#define FO_NADAM_L2 1u          /* g = g + weight_decay * p */
#define FO_NADAM_DECOUPLED 2u   /* p = p * (1 - lr * weight_decay) */
#define FO_NADAM_LERP_HIGH 4u   /* w >= 0.5: torch's lerp from the g side */

/* One element or vector: p, m (exp_avg) and v (exp_avg_sq) are read and written, g is read. */
#define FO_NADAM_MATH(X, V)                                                                   \
    FO_INLINE void FO_NAME(nadam_math_##X)(V *p, V g, V *m, V *v,                             \
                                           const FO_NAME(nadam_scalars) c, const unsigned F)  \
    {                                                                                         \
        /* g = -g if maximize */                                                              \
        g = c.sign * g;                                                                       \
        V p_ = *p;                                                                            \
        /* L2: g = g + weight_decay * p;  decoupled: p = p * (1 - lr * weight_decay) */       \
        if (FO_FLAG(F, FO_NADAM_L2)) g = g + c.weight_decay * p_;                             \
        if (FO_FLAG(F, FO_NADAM_DECOUPLED)) p_ = p_ * c.decay;                                \
        /* m = m.lerp(g, w);  v = v * beta2;  v = v + ((1 - beta2) * g) * g (vec.h) */        \
        FO_NAME(moments_##X)(g, m, v, c.coeff, FO_FLAG(F, FO_NADAM_LERP_HIGH), c.beta2,       \
                             c.one_minus_beta2);                                              \
        const V m_ = *m;                                                                      \
        V v_ = *v;                                                                            \
        /* d = np.sqrt(v / bc2) + eps */                                                      \
        const V d = FO_NAME(sqrt_##X)(v_ / c.bc2) + c.eps;                                    \
        /* p = p + (c_grad * g) / d;  p = p + (c_avg * m) / d */                              \
        p_ = p_ + (c.c_grad * g) / d;                                                         \
        *p = p_ + (c.c_avg * m_) / d;                                                         \
    }
FO_MATH_FNS(FO_NADAM_MATH)
#undef FO_NADAM_MATH

FO_INLINE void FO_NAME(nadam_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                   FO_ST *FO_RESTRICT m, FO_ST *FO_RESTRICT v,
                                   const FO_NAME(nadam_scalars) c, const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, v, p; compute; store m, v, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(nadam_math_v)(&P[k], G[k], &M[k], &S[k], c, F);
        FO_VREADY(M);
        FO_VREADY(S);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(m, i, M);
        FO_VSTORE_ALL(v, i, S);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++) FO_NAME(nadam_math_s)(&p[i], g[i], &m[i], &v[i], c, F);
#endif
}

/* mu at step t: beta1 * (1 - 0.5 * 0.96**(t * momentum_decay)) */
static inline double FO_NAME(nadam_mu)(const fo_nadam_hyper *h, double t)
{
    return h->beta1 * (1.0 - 0.5 * pow(0.96, t * h->momentum_decay));
}

/* mu_product = mu_product * mu, in mu_product's dtype (torch's in-place multiply of its 0-d
 * tensor: a float32 one multiplies by mu rounded to float32; fo_run rounds the product). */
void FO_NAME(nadam_advance)(const void *hyper, int64_t step, const double *old, double *next,
                            unsigned f64)
{
    const double mu = FO_NAME(nadam_mu)((const fo_nadam_hyper *)hyper, (double)step);
    next[2] = old[2] * (((f64 >> 2) & 1u) ? mu : (double)(float)mu);
}

void FO_NAME(nadam)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                    int64_t step)
{
    const fo_nadam_hyper *h = (const fo_nadam_hyper *)hyper;
    const double t = (double)step;
    const double bc2 = 1.0 - pow(h->beta2, t);
    const double mu = FO_NAME(nadam_mu)(h, t);
    const double mu_next = FO_NAME(nadam_mu)(h, t + 1.0);
    const double mu_product = ((const double *)state[2])[1];   /* after this step's advance */
    int lerp_high;
    const FO_T coeff = FO_NAME(lerp_coeff)(h->beta1, &lerp_high);
    FO_NAME(nadam_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)h->weight_decay;
    c.decay = (FO_T)(1.0 - h->lr * h->weight_decay);
    c.coeff = coeff;       /* in the dtype, as torch's lerp */
    c.beta2 = (FO_T)h->beta2;
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.bc2 = (FO_T)bc2;
    c.eps = (FO_T)h->eps;
    c.c_grad = (FO_T)(-h->lr * (1.0 - mu) / (1.0 - mu_product));
    c.c_avg = (FO_T)(-h->lr * mu_next / (1.0 - mu_product * mu_next));
    const unsigned flags =
        (h->weight_decay != 0.0 ? (h->decoupled != 0.0 ? FO_NADAM_DECOUPLED : FO_NADAM_L2)
                                : 0u) |
        (lerp_high ? FO_NADAM_LERP_HIGH : 0u);
#define FO_CALL(F)                                                                         \
    FO_NAME(nadam_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], \
                        c, F)
    FO_SPECIALIZE_3(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
