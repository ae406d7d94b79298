/* radam ----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/radam.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.RAdam's for-loop step (2.13, not capturable).
 *
 * hyper: fo_radam_hyper (registry.h)
 * state: exp_avg, exp_avg_sq
 *
 *   bc1      = 1 - beta1**step                             (double, once per call)
 *   bc2      = 1 - beta2**step                             (double)
 *   rho_inf  = 2 / (1 - beta2) - 1                         (double)
 *   rho_t    = rho_inf - 2 step beta2**step / bc2          (double)
 *   rect     = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
 *   w        = 1 - beta1                                   (rounded to the dtype)
 *   g  = -g if maximize else g
 *   g  = g + weight_decay * p                              (L2, if weight_decay != 0)
 *   p  = p * (1 - lr * weight_decay)                       (decoupled, if weight_decay != 0)
 *   m  = m + w * (g - m)              if w < 0.5           (torch's lerp, both branches)
 *   m  = g + (w - 1) * (g - m)        otherwise
 *   v  = v * beta2
 *   v  = v + ((1 - beta2) * g) * g
 *   mh = m / bc1
 *   a  = (1 / (sqrt(v) + eps)) * sqrt(bc2)    (torch's float / tensor: reciprocal, then *)
 *   p  = p - ((mh * lr) * a) * rect            if rho_t > 5
 *   p  = p - mh * lr                           otherwise
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
    FO_T bc1;
    FO_T lr;
    FO_T bc2_sqrt;        /* sqrt(bc2) */
    FO_T eps;
    FO_T rect;
} FO_NAME(radam_scalars);

/* the flags a loop is specialised on (weight decay: none, L2 or decoupled, never both bits) */
#define FO_RADAM_L2 1u          /* g = g + weight_decay * p */
#define FO_RADAM_DECOUPLED 2u   /* p = p * (1 - lr * weight_decay) */
#define FO_RADAM_RECTIFIED 4u   /* rho_t > 5: the adaptive, rectified step */
#define FO_RADAM_LERP_HIGH 8u   /* w >= 0.5: torch's lerp from the g side */

/* One element or vector: p, m (exp_avg) and v (exp_avg_sq) are read and written, g is read. */
#define FO_RADAM_MATH(X, V)                                                                   \
    FO_INLINE void FO_NAME(radam_math_##X)(V *p, V g, V *m, V *v,                             \
                                           const FO_NAME(radam_scalars) c, const unsigned F)  \
    {                                                                                         \
        /* g = -g if maximize */                                                              \
        g = c.sign * g;                                                                       \
        V p_ = *p;                                                                            \
        /* L2: g = g + weight_decay * p;  decoupled: p = p * (1 - lr * weight_decay) */       \
        if (FO_FLAG(F, FO_RADAM_L2)) g = g + c.weight_decay * p_;                             \
        if (FO_FLAG(F, FO_RADAM_DECOUPLED)) p_ = p_ * c.decay;                                \
        /* m = m.lerp(g, w);  v = v * beta2;  v = v + ((1 - beta2) * g) * g (vec.h) */        \
        FO_NAME(moments_##X)(g, m, v, c.coeff, FO_FLAG(F, FO_RADAM_LERP_HIGH), c.beta2,       \
                             c.one_minus_beta2);                                              \
        const V m_ = *m;                                                                      \
        V v_ = *v;                                                                            \
        /* mh = m / bc1 */                                                                    \
        const V mh = m_ / c.bc1;                                                              \
        if (FO_FLAG(F, FO_RADAM_RECTIFIED)) {                                                 \
            /* a = (1 / (np.sqrt(v) + eps)) * sqrt(bc2);  p = p - ((mh * lr) * a) * rect */   \
            const V a = ((FO_T)1 / (FO_NAME(sqrt_##X)(v_) + c.eps)) * c.bc2_sqrt;             \
            *p = p_ - ((mh * c.lr) * a) * c.rect;                                             \
        } else {                                                                              \
            /* p = p - mh * lr */                                                             \
            *p = p_ - mh * c.lr;                                                              \
        }                                                                                     \
    }
FO_MATH_FNS(FO_RADAM_MATH)
#undef FO_RADAM_MATH

FO_INLINE void FO_NAME(radam_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                   FO_ST *FO_RESTRICT m, FO_ST *FO_RESTRICT v,
                                   const FO_NAME(radam_scalars) c, const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, v, p; compute; store m, v, p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(radam_math_v)(&P[k], G[k], &M[k], &S[k], c, F);
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
    for (; i < n; i++) FO_NAME(radam_math_s)(&p[i], g[i], &m[i], &v[i], c, F);
#endif
}

void FO_NAME(radam)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                    int64_t step)
{
    const fo_radam_hyper *h = (const fo_radam_hyper *)hyper;
    const double t = (double)step;
    const double bc1 = 1.0 - pow(h->beta1, t);
    const double bc2 = 1.0 - pow(h->beta2, t);
    const double rho_inf = 2.0 / (1.0 - h->beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * t * pow(h->beta2, t) / bc2;
    const int rectified = rho_t > 5.0;
    int lerp_high;
    const FO_T coeff = FO_NAME(lerp_coeff)(h->beta1, &lerp_high);
    FO_NAME(radam_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.weight_decay = (FO_T)h->weight_decay;
    c.decay = (FO_T)(1.0 - h->lr * h->weight_decay);
    c.coeff = coeff;       /* in the dtype, as torch's lerp */
    c.beta2 = (FO_T)h->beta2;
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.bc1 = (FO_T)bc1;
    c.lr = (FO_T)h->lr;
    c.bc2_sqrt = (FO_T)sqrt(bc2);
    c.eps = (FO_T)h->eps;
    c.rect = rectified ? (FO_T)sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                    ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                       : (FO_T)0;
    const unsigned flags =
        (h->weight_decay != 0.0 ? (h->decoupled != 0.0 ? FO_RADAM_DECOUPLED : FO_RADAM_L2)
                                : 0u) |
        (rectified ? FO_RADAM_RECTIFIED : 0u) | (lerp_high ? FO_RADAM_LERP_HIGH : 0u);
#define FO_CALL(F)                                                                         \
    FO_NAME(radam_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1], \
                        c, F)
    FO_SPECIALIZE_4(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
