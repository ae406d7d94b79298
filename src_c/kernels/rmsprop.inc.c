/* rmsprop ------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom. The NumPy twin is
 * fastopt/reference/rmsprop.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.RMSprop's for-loop one (mul_/addcmul_, lerp_, add_(eps), addcdiv_;
 * torch's addcmul/addcdiv compute self + value * t1 * t2 and self + value * t1 / t2 left to
 * right).
 *
 * hyper: fo_rmsprop_hyper (registry.h)
 * state: square_avg, grad_avg, momentum_buffer
 *        (grad_avg is NULL unless centered, momentum_buffer NULL unless momentum != 0)
 *
 *   w   = 1 - alpha                                    (double, then rounded to FO_T)
 *   g   = -g if maximize else g
 *   g   = g + weight_decay * p                         (only if weight_decay != 0)
 *   v   = v * alpha + w * g * g                        (left to right: (w * g) * g)
 *   if centered:
 *       m = m + w * (g - m)         if |w| < 0.5       (torch's lerp(m, g, w); written
 *       m = g + (w - 1) * (g - m)   otherwise           as base + coeff * (g - m))
 *       x = v - m * m
 *   else x = v
 *   d   = sqrt(x) + eps                                (eps_inside_sqrt: sqrt(x + eps))
 *   if momentum != 0:
 *       b = b * momentum + g / d
 *       p = p - lr * b
 *   else
 *       p = p - lr * g / d                            (left to right: (lr * g) / d)
 */

/* arrays a block loads in the default configuration (g, v, p; centered and momentum add one
 * each): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h). With 4 the default step at 2^24
 * was 10-20% slower (bench, x bound 1.01-1.38 against 1.00-1.07 with 3). */
#define FO_STREAMS 3

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;          /* -1 under maximize, else 1 (exact) */
    FO_T weight_decay;
    FO_T alpha;
    FO_T w;             /* 1 - alpha, in double, then rounded */
    FO_T lerp_coeff;    /* torch's lerp weight: w if |w| < 0.5, else w - 1 (in FO_T) */
    FO_T eps;
    FO_T momentum;
    FO_T lr;
    int lerp_small;     /* |w| < 0.5: the lerp starts from m (else from g); not a flag, as
                         * it only matters when centered */
} FO_NAME(rmsprop_scalars);

/* the flags a loop is specialised on */
#define FO_RMSPROP_WEIGHT_DECAY 1u
#define FO_RMSPROP_CENTERED 2u    /* grad_avg is there */
#define FO_RMSPROP_MOMENTUM 4u    /* momentum_buffer is there */
#define FO_RMSPROP_EPS_INSIDE 8u

/* One element or vector: p and v (square_avg) are read and written, g is read; m (grad_avg)
 * and b (momentum_buffer) are read and written only under their flags (else NULL, or a
 * vector never loaded). */
#define FO_RMSPROP_MATH(X, V)                                                                 \
    FO_INLINE void FO_NAME(rmsprop_math_##X)(V *p, V g, V *v, V *m, V *b,                     \
                                             const FO_NAME(rmsprop_scalars) c, const unsigned F) \
    {                                                                                         \
        /* g = -g if maximize  (g = sign * g: exact) */                                       \
        g = c.sign * g;                                                                       \
        /* g = g + weight_decay * p */                                                        \
        if (FO_FLAG(F, FO_RMSPROP_WEIGHT_DECAY)) g = g + c.weight_decay * *p;                 \
        /* v[...] = v * alpha + w * g * g */                                                  \
        const V v_ = *v * c.alpha + c.w * g * g;                                              \
        *v = v_;                                                                              \
        V x = v_;                                                                             \
        if (FO_FLAG(F, FO_RMSPROP_CENTERED)) {                                                \
            /* m[...] = m + w * (g - m) if abs(w) < 0.5 else g + (w - 1) * (g - m) */         \
            V base;                                                                           \
            if (c.lerp_small) base = *m;                                                      \
            else              base = g;                                                       \
            const V m_ = base + c.lerp_coeff * (g - *m);                                      \
            *m = m_;                                                                          \
            /* x = v - m * m */                                                               \
            x = v_ - m_ * m_;                                                                 \
        }                                                                                     \
        /* d = np.sqrt(x) + eps   or   np.sqrt(x + eps) */                                    \
        const V d = FO_FLAG(F, FO_RMSPROP_EPS_INSIDE) ? FO_NAME(sqrt_##X)(x + c.eps)          \
                                                      : FO_NAME(sqrt_##X)(x) + c.eps;         \
        if (FO_FLAG(F, FO_RMSPROP_MOMENTUM)) {                                                \
            /* b[...] = b * momentum + g / d;  p -= lr * b */                                 \
            const V b_ = *b * c.momentum + g / d;                                             \
            *b = b_;                                                                          \
            *p = *p - c.lr * b_;                                                              \
        } else {                                                                              \
            /* p -= lr * g / d */                                                             \
            *p = *p - c.lr * g / d;                                                           \
        }                                                                                     \
    }
FO_MATH_FNS(FO_RMSPROP_MATH)
#undef FO_RMSPROP_MATH

FO_INLINE void FO_NAME(rmsprop_loop)(size_t n, FO_PT *FO_RESTRICT p, const FO_PT *FO_RESTRICT g,
                                     FO_ST *FO_RESTRICT v, FO_ST *FO_RESTRICT m,
                                     FO_ST *FO_RESTRICT b, const FO_NAME(rmsprop_scalars) c,
                                     const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, v, m (if centered), b (with momentum), p; compute; store v, m, b, p
     * (vec.h). M and B are loaded and stored only under their flags. */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(VS, v, i);
        FO_V M[FO_VU], B[FO_VU];
        FO_VEACH(k) {
            const size_t at = i + (size_t)k * FO_VLANES;
            if (FO_FLAG(F, FO_RMSPROP_CENTERED)) M[k] = FO_VLOAD_AT(m + at);
            if (FO_FLAG(F, FO_RMSPROP_MOMENTUM)) B[k] = FO_VLOAD_AT(b + at);
        }
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_NAME(rmsprop_math_v)(&P[k], G[k], &VS[k], &M[k], &B[k], c, F);
        FO_VREADY(VS);
        if (FO_FLAG(F, FO_RMSPROP_CENTERED)) FO_VREADY(M);
        if (FO_FLAG(F, FO_RMSPROP_MOMENTUM)) FO_VREADY(B);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(v, i, VS);
        if (FO_FLAG(F, FO_RMSPROP_CENTERED)) FO_VSTORE_ALL(m, i, M);
        if (FO_FLAG(F, FO_RMSPROP_MOMENTUM)) FO_VSTORE_ALL(b, i, B);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    /* m + i and b + i only under their flags: m and b may be NULL */
#if !FO_STORAGE   /* (a storage compile runs whole blocks only: half.h) */
    for (; i < n; i++)
        FO_NAME(rmsprop_math_s)(&p[i], g[i], &v[i],
                                FO_FLAG(F, FO_RMSPROP_CENTERED) ? m + i : NULL,
                                FO_FLAG(F, FO_RMSPROP_MOMENTUM) ? b + i : NULL, c, F);
#endif
}

void FO_NAME(rmsprop)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                      int64_t step)
{
    const fo_rmsprop_hyper *h = (const fo_rmsprop_hyper *)hyper;
    FO_NAME(rmsprop_scalars) c;
    (void)step; /* RMSprop's update does not depend on the step number */
    c.lr = (FO_T)h->lr;
    c.alpha = (FO_T)h->alpha;
    c.eps = (FO_T)h->eps;
    c.weight_decay = (FO_T)h->weight_decay;
    c.momentum = (FO_T)h->momentum;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.w = (FO_T)(1.0 - h->alpha);
    /* torch's lerp: weight w when |w| < 0.5 (from m), else w - 1 (from g), both in FO_T */
    c.lerp_small = fabs((double)c.w) < 0.5;
    c.lerp_coeff = c.lerp_small ? c.w : (FO_T)(c.w - (FO_T)1);
    const unsigned flags = (h->weight_decay != 0.0 ? FO_RMSPROP_WEIGHT_DECAY : 0u) |
                           (h->centered != 0.0 ? FO_RMSPROP_CENTERED : 0u) |
                           (h->momentum != 0.0 ? FO_RMSPROP_MOMENTUM : 0u) |
                           (h->eps_inside_sqrt != 0.0 ? FO_RMSPROP_EPS_INSIDE : 0u);
    /* grad_avg is NULL unless centered, momentum_buffer NULL unless momentum != 0 */
#define FO_CALL(F)                                                                            \
    FO_NAME(rmsprop_loop)(n, (FO_PT *)p, (const FO_PT *)g, (FO_ST *)state[0], (FO_ST *)state[1],  \
                          (FO_ST *)state[2], c, F)
    FO_SPECIALIZE_4(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
