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

FO_INLINE void FO_NAME(rmsprop_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT v,
    FO_T *FO_RESTRICT m, FO_T *FO_RESTRICT b, const FO_NAME(rmsprop_scalars) k,
    const int use_weight_decay, const int centered, const int use_momentum,
    const int eps_inside_sqrt)
{
    for (size_t i = 0; i < n; i++) {
        /* g = sign * g  (sign is -1 under maximize: exact) */
        FO_T gi = k.sign * g[i];
        /* g = g + weight_decay * p */
        if (use_weight_decay) gi = gi + k.weight_decay * p[i];
        /* v = v * alpha + w * g * g */
        const FO_T vi = v[i] * k.alpha + k.w * gi * gi;
        v[i] = vi;
        FO_T xi = vi;
        if (centered) {
            /* m = base + coeff * (g - m), base = m or g by the size of w (torch's lerp) */
            const FO_T mi_old = m[i];
            const FO_T base = k.lerp_small ? mi_old : gi;
            const FO_T mi = base + k.lerp_coeff * (gi - mi_old);
            m[i] = mi;
            /* x = v - m * m */
            xi = vi - mi * mi;
        }
        /* d = np.sqrt(x) + eps   or   np.sqrt(x + eps) */
        const FO_T di = eps_inside_sqrt ? FO_SQRT(xi + k.eps) : FO_SQRT(xi) + k.eps;
        if (use_momentum) {
            /* b = b * momentum + g / d;  p -= lr * b */
            const FO_T bi = b[i] * k.momentum + gi / di;
            b[i] = bi;
            p[i] = p[i] - k.lr * bi;
        } else {
            /* p -= lr * g / d */
            p[i] = p[i] - k.lr * gi / di;
        }
    }
}

void FO_NAME(rmsprop)(size_t n, void *p_, const void *g_, void *const *state,
                      const double *hyper, int64_t step)
{
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
