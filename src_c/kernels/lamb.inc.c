/* lamb -----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), in its kernel idiom, with one addition: LAMB
 * scales each param's step by the trust ratio ||p|| / ||u||, two norms over the whole param,
 * so it makes three passes and threads.c never cuts its params (registry.h:
 * FO_WHOLE_KERNELS). The NumPy twin is fastopt/reference/lamb.py; both compute in this order,
 * so results are bitwise equal. The math is Algorithm 2 of You et al. 2019 (LAMB, with the
 * bias corrections, phi the identity).
 *
 * hyper: fo_lamb_hyper (registry.h)
 * state: exp_avg, exp_avg_sq
 *
 *   bc1 = 1 - beta1**step;  bc2 = 1 - beta2**step              (double, once per call)
 *   w   = 1 - beta1                                            (rounded to the dtype)
 *   pass 1:  g = -g if maximize
 *            m = m.lerp(g, w);  v = v * beta2;  v = v + ((1 - beta2) * g) * g   (vec.h)
 *   pass 2:  u = (m / bc1) / (sqrt(v / bc2) + eps)
 *            u = u + weight_decay * p                          (if weight_decay != 0)
 *            pp = sum(float64(p) ** 2);  uu = sum(float64(u) ** 2)   (fixed order: lamb_sum)
 *   ratio = sqrt(pp) / sqrt(uu) if both > 0, else 1                    (double)
 *   pass 3:  u as in pass 2;  p = p - (lr * ratio) * u        (lr * ratio rounded to the dtype)
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;            /* -1 under maximize, else 1 (exact) */
    FO_T coeff;           /* the lerp weight: w, or w - 1 when w >= 0.5 */
    FO_T beta2;
    FO_T one_minus_beta2;
    FO_T bc1;
    FO_T bc2;
    FO_T eps;
    FO_T weight_decay;
    FO_T step;            /* lr * ratio, once the norms are known */
} FO_NAME(lamb_scalars);

/* the flags a loop is specialised on */
#define FO_LAMB_WEIGHT_DECAY 1u   /* u = u + weight_decay * p */
#define FO_LAMB_LERP_HIGH 2u      /* w >= 0.5: torch's lerp from the g side */

/* Pass 1, one element or vector: m and v are read and written, g is read. */
#define FO_LAMB_MOMENTS(X, V)                                                                 \
    FO_INLINE void FO_NAME(lamb_moments_##X)(V g, V *m, V *v, const FO_NAME(lamb_scalars) c,  \
                                             const unsigned F)                                \
    {                                                                                         \
        /* g = -g if maximize;  m = m.lerp(g, w);  v = v * beta2 + ((1 - beta2) * g) * g */   \
        FO_NAME(moments_##X)(c.sign * g, m, v, c.coeff, FO_FLAG(F, FO_LAMB_LERP_HIGH),        \
                             c.beta2, c.one_minus_beta2);                                     \
    }
FO_MATH_FNS(FO_LAMB_MOMENTS)
#undef FO_LAMB_MOMENTS

/* Passes 2 and 3, one element or vector: the update direction u. */
#define FO_LAMB_DIRECTION(X, V)                                                               \
    FO_INLINE V FO_NAME(lamb_direction_##X)(V p, V m, V v, const FO_NAME(lamb_scalars) c,     \
                                            const unsigned F)                                 \
    {                                                                                         \
        /* u = (m / bc1) / (np.sqrt(v / bc2) + eps);  u = u + weight_decay * p */             \
        V u = (m / c.bc1) / (FO_NAME(sqrt_##X)(v / c.bc2) + c.eps);                           \
        if (FO_FLAG(F, FO_LAMB_WEIGHT_DECAY)) u = u + c.weight_decay * p;                     \
        return u;                                                                             \
    }
FO_MATH_FNS(FO_LAMB_DIRECTION)
#undef FO_LAMB_DIRECTION

FO_INLINE void FO_NAME(lamb_pass1)(size_t n, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT m,
                                   FO_T *FO_RESTRICT v, const FO_NAME(lamb_scalars) c,
                                   const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, v; compute; store m, v (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_VEACH(k) FO_NAME(lamb_moments_v)(G[k], &M[k], &S[k], c, F);
        FO_VREADY(M);
        FO_VREADY(S);
        FO_VSTORES();
        FO_VSTORE_ALL(m, i, M);
        FO_VSTORE_ALL(v, i, S);
    }
#endif
    for (; i < n; i++) FO_NAME(lamb_moments_s)(g[i], &m[i], &v[i], c, F);
}

/* The sums of squares of pass 2 in one fixed order, the same on every ISA path (and in
 * fastopt/reference/lamb.py: _sum_squares): element i goes to lane i % 16 of a float64
 * accumulator, the lanes are added up row after row, then folded 16 -> 8 -> 4 -> 2 -> 1
 * (lane k += lane k + w). */
#define FO_LAMB_LANES 16
FO_INLINE void FO_NAME(lamb_pass2)(size_t n, const FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT m,
                                   const FO_T *FO_RESTRICT v, const FO_NAME(lamb_scalars) c,
                                   const unsigned F, double *pp, double *uu)
{
    double ap[FO_LAMB_LANES] = {0}, au[FO_LAMB_LANES] = {0};
    size_t i = 0;
    for (; i + FO_LAMB_LANES <= n; i += FO_LAMB_LANES) {
        for (int k = 0; k < FO_LAMB_LANES; k++) {
            const FO_T u = FO_NAME(lamb_direction_s)(p[i + k], m[i + k], v[i + k], c, F);
            ap[k] += (double)p[i + k] * (double)p[i + k];
            au[k] += (double)u * (double)u;
        }
    }
    for (int k = 0; i + (size_t)k < n; k++) {
        const FO_T u = FO_NAME(lamb_direction_s)(p[i + k], m[i + k], v[i + k], c, F);
        ap[k] += (double)p[i + k] * (double)p[i + k];
        au[k] += (double)u * (double)u;
    }
    for (int w = FO_LAMB_LANES / 2; w >= 1; w /= 2) {
        for (int k = 0; k < w; k++) {
            ap[k] += ap[k + w];
            au[k] += au[k + w];
        }
    }
    *pp = ap[0];
    *uu = au[0];
}

FO_INLINE void FO_NAME(lamb_pass3)(size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT m,
                                   const FO_T *FO_RESTRICT v, const FO_NAME(lamb_scalars) c,
                                   const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load p, m, v; compute; store p (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(P, p, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_VEACH(k) P[k] = P[k] - c.step * FO_NAME(lamb_direction_v)(P[k], M[k], S[k], c, F);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    for (; i < n; i++) p[i] = p[i] - c.step * FO_NAME(lamb_direction_s)(p[i], m[i], v[i], c, F);
}

FO_INLINE void FO_NAME(lamb_loop)(size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g,
                                  FO_T *FO_RESTRICT m, FO_T *FO_RESTRICT v,
                                  FO_NAME(lamb_scalars) c, double lr, const unsigned F)
{
    double pp, uu;
    FO_NAME(lamb_pass1)(n, g, m, v, c, F);
    FO_NAME(lamb_pass2)(n, p, m, v, c, F, &pp, &uu);
    const double pn = sqrt(pp), un = sqrt(uu);
    const double ratio = (pn > 0.0 && un > 0.0) ? pn / un : 1.0;
    c.step = (FO_T)(lr * ratio);
    FO_NAME(lamb_pass3)(n, p, m, v, c, F);
}

void FO_NAME(lamb)(size_t n, void *p, const void *g, void *const *state, const void *hyper,
                   int64_t step)
{
    const fo_lamb_hyper *h = (const fo_lamb_hyper *)hyper;
    const double t = (double)step;
    int lerp_high;
    const FO_T coeff = FO_NAME(lerp_coeff)(h->beta1, &lerp_high);
    FO_NAME(lamb_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    c.coeff = coeff;
    c.beta2 = (FO_T)h->beta2;
    c.one_minus_beta2 = (FO_T)(1.0 - h->beta2);
    c.bc1 = (FO_T)(1.0 - pow(h->beta1, t));
    c.bc2 = (FO_T)(1.0 - pow(h->beta2, t));
    c.eps = (FO_T)h->eps;
    c.weight_decay = (FO_T)h->weight_decay;
    c.step = (FO_T)0;
    const unsigned flags = (h->weight_decay != 0.0 ? FO_LAMB_WEIGHT_DECAY : 0u) |
                           (lerp_high ? FO_LAMB_LERP_HIGH : 0u);
#define FO_CALL(F)                                                                         \
    FO_NAME(lamb_loop)(n, (FO_T *)p, (const FO_T *)g, (FO_T *)state[0], (FO_T *)state[1], \
                       c, h->lr, F)
    FO_SPECIALIZE_2(flags, FO_CALL);
#undef FO_CALL
}

#undef FO_LAMB_LANES
#undef FO_STREAMS
