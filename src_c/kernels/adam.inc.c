/* adam (Adam and AdamW) ----------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), with FO_T the element type, FO_SQRT its square
 * root and FO_NAME(x) the symbol for this ISA and dtype. The NumPy twin is
 * fastopt/reference/adam.py; both compute in this order, so results are bitwise equal.
 * The order is torch.optim.Adam's for-loop step (2.13, not capturable); AdamW is the same
 * kernel with decoupled = 1.
 *
 * hyper = [lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled]
 * state = [exp_avg, exp_avg_sq, max_exp_avg_sq (only read and written if amsgrad)]
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

/* One element, or one vector of elements: V is FO_T or FO_V, SQRT its square root, MAX its
 * np.maximum. P, M, S (exp_avg_sq) and VMAX are read and assigned (VMAX only if amsgrad);
 * the scalars (sign, coeff, ...) and flags are the loop's arguments. */
#define FO_ADAM_MATH(V, SQRT, MAX, P, G, M, S, VMAX)                                          \
    do {                                                                                      \
        /* g = sign * g  (sign is -1 under maximize: exact) */                               \
        V g_ = sign * (G);                                                                    \
        V p_ = (P);                                                                           \
        /* Adam: g = g + weight_decay * p;  AdamW: p = p * (1 - lr * weight_decay) */         \
        if (wd_mode == 1) g_ = g_ + weight_decay * p_;                                        \
        if (wd_mode == 2) p_ = p_ * decay;                                                    \
        /* m = m.lerp(g, w): m + w * (g - m), or g + (w - 1) * (g - m) when w >= 0.5 */       \
        const V d_ = g_ - (M);                                                                \
        if (lerp_high) (M) = g_ + coeff * d_;                                                 \
        else           (M) = (M) + coeff * d_;                                                \
        /* v = v * beta2;  v = v + ((1 - beta2) * g) * g */                                   \
        V v_ = (S) * beta2;                                                                   \
        v_ = v_ + (one_minus_beta2 * g_) * g_;                                                \
        (S) = v_;                                                                             \
        /* vm = np.maximum(vm, v) */                                                          \
        if (amsgrad) {                                                                        \
            v_ = MAX((VMAX), v_);                                                             \
            (VMAX) = v_;                                                                      \
        }                                                                                     \
        /* p = p - (step_size * m) / (np.sqrt(v) / bc2_sqrt + eps) */                         \
        const V den_ = SQRT(v_) / bc2_sqrt + eps;                                             \
        (P) = p_ - (step_size * (M)) / den_;                                                  \
    } while (0)

FO_INLINE void FO_NAME(adam_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT m,
    FO_T *FO_RESTRICT v, FO_T *FO_RESTRICT vmax, const FO_T sign, const FO_T weight_decay,
    const FO_T decay, const FO_T coeff, const FO_T beta2, const FO_T one_minus_beta2,
    const FO_T step_size, const FO_T bc2_sqrt, const FO_T eps,
    const int wd_mode, const int amsgrad, const int lerp_high)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, m, v, (vmax), p; compute; store m, v, (vmax), p (vec.h says why).
     * vmax is NULL unless amsgrad: it is loaded and stored only under that constant flag. */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(M, m, i);
        FO_VLOAD_ALL(S, v, i);
        FO_V VM[FO_VU];
        if (amsgrad) FO_VEACH(k) VM[k] = FO_NAME(vload)(vmax + i + (size_t)k * FO_VLANES);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k)
            FO_ADAM_MATH(FO_V, FO_VSQRT, FO_NAME(maximum_v), P[k], G[k], M[k], S[k], VM[k]);
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
    for (; i < n; i++)
        FO_ADAM_MATH(FO_T, FO_SQRT, FO_NAME(maximum_s), p[i], g[i], m[i], v[i], vmax[i]);
}

#undef FO_ADAM_MATH

void FO_NAME(adam)(size_t n, void *p_, const void *g_, void *const *state,
                   const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_adam_hyper */
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *m = (FO_T *)state[0];
    FO_T *v = (FO_T *)state[1];
    FO_T *vmax = (FO_T *)state[2]; /* NULL unless amsgrad */
    const double lr = hyper[0], beta1 = hyper[1], beta2 = hyper[2];
    const double bc1 = 1.0 - pow(beta1, (double)step);
    const double bc2 = 1.0 - pow(beta2, (double)step);
    const FO_T step_size = (FO_T)(lr / bc1);
    const FO_T bc2_sqrt = (FO_T)sqrt(bc2);
    const FO_T w = (FO_T)(1.0 - beta1);
    const int lerp_high = !(w < (FO_T)0.5);
    const FO_T coeff = lerp_high ? w - (FO_T)1 : w;
    const FO_T eps = (FO_T)hyper[3];
    const FO_T weight_decay = (FO_T)hyper[4];
    const FO_T decay = (FO_T)(1.0 - lr * hyper[4]);
    const int amsgrad = hyper[5] != 0.0;
    const FO_T sign = hyper[6] != 0.0 ? (FO_T)-1 : (FO_T)1;
    const int wd_mode = hyper[4] == 0.0 ? 0 : (hyper[7] != 0.0 ? 2 : 1);
    const FO_T b2 = (FO_T)beta2;
    const FO_T omb2 = (FO_T)(1.0 - beta2);

    /* Each call is the same loop with the flags fixed, so each vectorizes on its own. */
#define FO_ADAM_CALL(wd, ams, high)                                                     \
    FO_NAME(adam_loop)(n, p, g, m, v, vmax, sign, weight_decay, decay, coeff, b2, omb2,  \
                       step_size, bc2_sqrt, eps, wd, ams, high)
#define FO_ADAM_WD(ams, high)                        \
    do {                                             \
        if (wd_mode == 0)      FO_ADAM_CALL(0, ams, high); \
        else if (wd_mode == 1) FO_ADAM_CALL(1, ams, high); \
        else                   FO_ADAM_CALL(2, ams, high); \
    } while (0)
    if (amsgrad && lerp_high)  FO_ADAM_WD(1, 1);
    else if (amsgrad)          FO_ADAM_WD(1, 0);
    else if (lerp_high)        FO_ADAM_WD(0, 1);
    else                       FO_ADAM_WD(0, 0);
#undef FO_ADAM_WD
#undef FO_ADAM_CALL
}

#undef FO_STREAMS
