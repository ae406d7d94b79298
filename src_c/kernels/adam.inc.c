/* adam (Adam and AdamW) ----------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/adam.py; both compute in this order, so results are bitwise equal.
 * The order is torch.optim.Adam's for-loop step (2.13, not capturable); AdamW is the same
 * kernel with decoupled = 1.
 *
 * hyper: fo_adam_hyper (registry.h)
 * state: exp_avg, exp_avg_sq, max_exp_avg_sq (only if amsgrad: NULL otherwise, never touched)
 *
 *   bc1       = 1 - beta1**step                         (double, once per call)
 *   bc2       = 1 - beta2**step                         (double)
 *   step_size = lr / bc1                                (double)
 *   bc2_sqrt  = sqrt(bc2)                               (double)
 *   w         = 1 - beta1                               (rounded to the dtype)
 *   g  = -g if maximize else g
 *   g  = g + weight_decay * p                           (Adam, if weight_decay != 0)
 *   p  = p * (1 - lr * weight_decay)                    (AdamW, if weight_decay != 0)
 *   m  = m + w * (g - m)              if w < 0.5        (torch's lerp, both branches)
 *   m  = g + (w - 1) * (g - m)        otherwise
 *   v  = v * beta2
 *   v  = v + ((1 - beta2) * g) * g
 *   vm = maximum(vm, v)                                 (amsgrad; vm replaces v below)
 *   p  = p - (step_size * m) / (sqrt(v) / bc2_sqrt + eps)
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;            /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;    /* Adam's L2 term */
    FO_T decay;           /* AdamW's 1 - lr * weight_decay */
    FO_T coeff;           /* the lerp weight: w, or w - 1 when w >= 0.5 */
    FO_T beta2;
    FO_T one_minus_beta2;
    FO_T step_size;       /* lr / bc1 */
    FO_T bc2_sqrt;        /* sqrt(bc2) */
    FO_T eps;
} FO_NAME(adam_scalars);

/* the flags a loop is specialised on (weight decay: none, L2 or decoupled, never both bits) */
#define FO_ADAM_L2 1u          /* g = g + weight_decay * p */
#define FO_ADAM_DECOUPLED 2u   /* p = p * (1 - lr * weight_decay) */
#define FO_ADAM_AMSGRAD 4u     /* vmax is there: vm = np.maximum(vm, v) */
#define FO_ADAM_LERP_HIGH 8u   /* w >= 0.5: torch's lerp from the g side */

/* One element or vector: p, m, v (exp_avg_sq) and vmax are read and written, g is read.
 * vmax is only dereferenced under FO_ADAM_AMSGRAD (it may be NULL otherwise). */
#define FO_ADAM_MATH(X, V)                                                                    \
    FO_INLINE void FO_NAME(adam_math_##X)(V *p, V g, V *m, V *v, V *vmax,                     \
                                          const FO_NAME(adam_scalars) c, const unsigned F)    \
    {                                                                                         \
        /* g = -g if maximize */                                                              \
        g = c.sign * g;                                                                       \
        V p_ = *p;                                                                            \
        /* Adam: g = g + weight_decay * p */                                                  \
        if (FO_FLAG(F, FO_ADAM_L2)) g = g + c.weight_decay * p_;                              \
        /* AdamW: p = p * (1 - lr * weight_decay) */                                          \
        if (FO_FLAG(F, FO_ADAM_DECOUPLED)) p_ = p_ * c.decay;                                 \
        /* m = m.lerp(g, w);  v = v * beta2;  v = v + ((1 - beta2) * g) * g (vec.h) */        \
        FO_NAME(moments_##X)(g, m, v, c.coeff, FO_FLAG(F, FO_ADAM_LERP_HIGH), c.beta2,        \
                             c.one_minus_beta2);                                              \
        const V m_ = *m;                                                                      \
        V v_ = *v;                                                                            \
        /* vm = np.maximum(vm, v), and vm replaces v below */                                 \
        if (FO_FLAG(F, FO_ADAM_AMSGRAD)) {                                                    \
            v_ = FO_NAME(maximum_##X)(*vmax, v_);                                             \
            *vmax = v_;                                                                       \
        }                                                                                     \
        /* p = p - (step_size * m) / (np.sqrt(v) / bc2_sqrt + eps) */                         \
        const V den = FO_NAME(sqrt_##X)(v_) / c.bc2_sqrt + c.eps;                             \
        *p = p_ - (c.step_size * m_) / den;                                                   \
    }
FO_MATH_FNS(FO_ADAM_MATH)
#undef FO_ADAM_MATH

FO_INLINE void FO_NAME(adam_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                  FO_ST *FO_RESTRICT m, FO_ST *FO_RESTRICT v,
                                  FO_ST *FO_RESTRICT vmax, const FO_NAME(adam_scalars) c,
                                  const unsigned F)
{
    const int amsgrad = FO_FLAG(F, FO_ADAM_AMSGRAD); /* else vmax is NULL: never touched */
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, v, (vmax), p; compute; store m, v, (vmax), p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_V VM[FO_VU];
        if (amsgrad) FO_VEACH(k) VM[k] = FO_VLOAD_AT(vmax + i + (size_t)k * FO_VLANES);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(adam_math_v)(&P[k], G[k], &M[k], &S[k], &VM[k], c, F);
        FO_VREADY(M);
        FO_VREADY(S);
        if (amsgrad) FO_VREADY(VM);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(m, i, M);
        FO_VSTORE_ALL(v, i, S);
        if (amsgrad) FO_VSTORE_ALL(vmax, i, VM);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++)
        FO_NAME(adam_math_s)(&p[i], g[i], &m[i], &v[i], amsgrad ? &vmax[i] : NULL, c, F);
#endif
}

void FO_NAME(adam)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                   int64_t step)
{
    const fo_adam_hyper *h = (const fo_adam_hyper *)hyper;
    const double bc1 = 1.0 - pow(h->beta1, (double)step);
    const double bc2 = 1.0 - pow(h->beta2, (double)step);
    int lerp_high;
    const FO_T coeff = FO_NAME(lerp_coeff)(h->beta1, &lerp_high);
    FO_NAME(adam_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)h->weight_decay;
    c.decay = (FO_T)(1.0 - h->lr * h->weight_decay);
    c.coeff = coeff;       /* in the dtype, as torch's lerp */
    c.beta2 = (FO_T)h->beta2;
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.step_size = (FO_T)(h->lr / bc1);
    c.bc2_sqrt = (FO_T)sqrt(bc2);
    c.eps = (FO_T)h->eps;
    const unsigned flags =
        (h->weight_decay != 0.0 ? (h->decoupled != 0.0 ? FO_ADAM_DECOUPLED : FO_ADAM_L2) : 0u) |
        (h->amsgrad != 0.0 ? FO_ADAM_AMSGRAD : 0u) | (lerp_high ? FO_ADAM_LERP_HIGH : 0u);
#define FO_CALL(F)                                                                        \
    FO_NAME(adam_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], \
                       (FO_ST *)state[2], c, F)
    FO_SPECIALIZE_4(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
