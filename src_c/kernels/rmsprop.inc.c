/* rmsprop ------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), with FO_T the element type, FO_SQRT its square
 * root and FO_NAME(x) the symbol for this ISA and dtype. The NumPy twin is
 * fastopt/reference/rmsprop.py; both compute in this order, so results are bitwise equal. The
 * order is torch.optim.RMSprop's for-loop one (mul_/addcmul_, lerp_, add_(eps), addcdiv_;
 * torch's addcmul/addcdiv compute self + value * t1 * t2 and self + value * t1 / t2 left to
 * right).
 *
 * hyper = [lr, alpha, eps, weight_decay, momentum, centered, maximize, eps_inside_sqrt]
 * state = [square_avg, grad_avg, momentum_buffer]
 *         (grad_avg is NULL unless centered, momentum_buffer NULL unless momentum != 0)
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

/* The per-call scalars, already in the element type. */
typedef struct {
    FO_T sign, weight_decay, alpha, w, lerp_coeff, eps, momentum, lr;
    int lerp_small;
} FO_NAME(rmsprop_scalars);

/* arrays a block loads in the default configuration (g, v, p; centered and momentum add one
 * each): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h). With 4 the default step at 2^24
 * was 10-20% slower (bench, x bound 1.01-1.38 against 1.00-1.07 with 3). */
#define FO_STREAMS 3

/* One element, or one vector of elements: V is FO_T or FO_V, SQRT its square root. P, VS
 * (square_avg), M (grad_avg, only if centered) and B (momentum_buffer, only with momentum)
 * are read and assigned; the scalars are the loop's k and the flags its arguments. */
#define FO_RMSPROP_MATH(V, SQRT, P, G, VS, M, B)                                              \
    do {                                                                                      \
        /* g = sign * g  (sign is -1 under maximize: exact) */                               \
        V g_ = k.sign * (G);                                                                  \
        /* g = g + weight_decay * p */                                                        \
        if (use_weight_decay) g_ = g_ + k.weight_decay * (P);                                 \
        /* v = v * alpha + w * g * g */                                                       \
        (VS) = (VS) * k.alpha + k.w * g_ * g_;                                                \
        V x_ = (VS);                                                                          \
        if (centered) {                                                                       \
            /* m = base + coeff * (g - m), base = m or g by the size of w (torch's lerp) */   \
            V base_;                                                                          \
            if (k.lerp_small) base_ = (M);                                                    \
            else              base_ = g_;                                                     \
            (M) = base_ + k.lerp_coeff * (g_ - (M));                                          \
            /* x = v - m * m */                                                               \
            x_ = (VS) - (M) * (M);                                                            \
        }                                                                                     \
        /* d = np.sqrt(x) + eps   or   np.sqrt(x + eps) */                                    \
        V d_;                                                                                 \
        if (eps_inside_sqrt) d_ = SQRT(x_ + k.eps);                                           \
        else                 d_ = SQRT(x_) + k.eps;                                           \
        if (use_momentum) {                                                                   \
            /* b = b * momentum + g / d;  p -= lr * b */                                      \
            (B) = (B) * k.momentum + g_ / d_;                                                 \
            (P) = (P) - k.lr * (B);                                                           \
        } else {                                                                              \
            /* p -= lr * g / d */                                                             \
            (P) = (P) - k.lr * g_ / d_;                                                       \
        }                                                                                     \
    } while (0)

FO_INLINE void FO_NAME(rmsprop_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT v,
    FO_T *FO_RESTRICT m, FO_T *FO_RESTRICT b, const FO_NAME(rmsprop_scalars) k,
    const int use_weight_decay, const int centered, const int use_momentum,
    const int eps_inside_sqrt)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, v, m (if centered), b (with momentum), p; compute; store v, m, b, p
     * (vec.h says why). The vector index is j: k holds the scalars. */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(VS, v, i);
        FO_V M[FO_VU], B[FO_VU];
        FO_VEACH(j) {
            if (centered) M[j] = FO_NAME(vload)(m + i + (size_t)j * FO_VLANES);
            if (use_momentum) B[j] = FO_NAME(vload)(b + i + (size_t)j * FO_VLANES);
        }
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(j) FO_RMSPROP_MATH(FO_V, FO_VSQRT, P[j], G[j], VS[j], M[j], B[j]);
        FO_VREADY(VS);
        if (centered) FO_VREADY(M);
        if (use_momentum) FO_VREADY(B);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(v, i, VS);
        if (centered) FO_VSTORE_ALL(m, i, M);
        if (use_momentum) FO_VSTORE_ALL(b, i, B);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    for (; i < n; i++) FO_RMSPROP_MATH(FO_T, FO_SQRT, p[i], g[i], v[i], m[i], b[i]);
}

#undef FO_RMSPROP_MATH

void FO_NAME(rmsprop)(size_t n, void *p_, const void *g_, void *const *state,
                      const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_rmsprop_hyper */
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *v = (FO_T *)state[0];
    FO_T *m = (FO_T *)state[1]; /* NULL unless centered */
    FO_T *b = (FO_T *)state[2]; /* NULL unless momentum != 0 */
    FO_NAME(rmsprop_scalars) k;
    (void)step; /* RMSprop's update does not depend on the step number */
    k.lr = (FO_T)hyper[0];
    k.alpha = (FO_T)hyper[1];
    k.eps = (FO_T)hyper[2];
    k.weight_decay = (FO_T)hyper[3];
    k.momentum = (FO_T)hyper[4];
    k.sign = hyper[6] != 0.0 ? (FO_T)-1 : (FO_T)1;
    k.w = (FO_T)(1.0 - hyper[1]);
    /* torch's lerp: weight w when |w| < 0.5 (from m), else w - 1 (from g), both in FO_T */
    k.lerp_small = fabs((double)k.w) < 0.5;
    k.lerp_coeff = k.lerp_small ? k.w : (FO_T)(k.w - (FO_T)1);
    const int flags = (hyper[3] != 0.0) | (hyper[5] != 0.0) << 1 | (hyper[4] != 0.0) << 2
                      | (hyper[7] != 0.0) << 3;

    /* Each case is the same loop with the four flags fixed, so each vectorizes on its own. */
#define FO_RMS(f)                                                                            \
    case f:                                                                                  \
        FO_NAME(rmsprop_loop)(n, p, g, v, m, b, k, (f) & 1, (f) >> 1 & 1, (f) >> 2 & 1,       \
                              (f) >> 3 & 1);                                                 \
        break;
    switch (flags) {
        FO_RMS(0) FO_RMS(1) FO_RMS(2) FO_RMS(3) FO_RMS(4) FO_RMS(5) FO_RMS(6) FO_RMS(7)
        FO_RMS(8) FO_RMS(9) FO_RMS(10) FO_RMS(11) FO_RMS(12) FO_RMS(13) FO_RMS(14) FO_RMS(15)
    }
#undef FO_RMS
}

#undef FO_STREAMS
