/* sgd ----------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), with FO_T the element type and FO_NAME(x) the
 * symbol for this ISA and dtype. The NumPy twin is fastopt/reference/sgd.py; both compute in
 * this order, so results are bitwise equal. The order is torch.optim.SGD's for-loop one.
 *
 * hyper = [lr, momentum, dampening, weight_decay, nesterov, maximize]
 * state = [momentum_buffer]   (NULL, and never touched, when momentum == 0)
 *
 *   g   = -g if maximize else g
 *   g   = g + weight_decay * p                         (only if weight_decay != 0)
 *   if momentum != 0:
 *       b = g                                          (step == 1: b is only written)
 *       b = b * momentum + (1 - dampening) * g         (step > 1; 1 - dampening in double)
 *       g = g + momentum * b   if nesterov   else   g = b
 *   p   = p - lr * g
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* One element, or one vector of elements: V is FO_T or FO_V. P and B are read and assigned (B
 * is only assigned on step 1, and not touched at all without momentum); the scalars (sign,
 * lr, ...) and flags are the loop's arguments. */
#define FO_SGD_MATH(V, P, G, B)                                                               \
    do {                                                                                      \
        /* g = sign * g  (sign is -1 under maximize: exact) */                               \
        V g_ = sign * (G);                                                                    \
        /* g = g + weight_decay * p */                                                        \
        if (use_weight_decay) g_ = g_ + weight_decay * (P);                                   \
        if (use_momentum) {                                                                   \
            V b_;                                                                             \
            /* b = g.copy() */                                                                \
            if (first) b_ = g_;                                                               \
            /* b = b * momentum + (1 - dampening) * g */                                      \
            else       b_ = (B) * momentum + one_minus_dampening * g_;                        \
            (B) = b_;                                                                         \
            /* g = g + momentum * b   or   g = b */                                           \
            if (nesterov) g_ = g_ + momentum * b_;                                            \
            else          g_ = b_;                                                            \
        }                                                                                     \
        /* p -= lr * g */                                                                     \
        (P) = (P) - lr * g_;                                                                  \
    } while (0)

FO_INLINE void FO_NAME(sgd_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT b,
    const FO_T sign, const FO_T lr, const FO_T momentum, const FO_T one_minus_dampening,
    const FO_T weight_decay, const int use_weight_decay, const int use_momentum,
    const int first, const int nesterov)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, b (with momentum, after step 1), p; compute; store b (with momentum),
     * p (vec.h says why) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_V B[FO_VU];
        FO_VEACH(k) {
            if (use_momentum && !first) B[k] = FO_NAME(vload)(b + i + (size_t)k * FO_VLANES);
        }
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_SGD_MATH(FO_V, P[k], G[k], B[k]);
        if (use_momentum) FO_VREADY(B);
        FO_VREADY(P);
        FO_VSTORES();
        if (use_momentum) FO_VSTORE_ALL(b, i, B);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    for (; i < n; i++) FO_SGD_MATH(FO_T, p[i], g[i], b[i]);
}

#undef FO_SGD_MATH

/* One runtime flag (weight decay) turned into a constant, so every call site is one
 * specialised loop. */
FO_INLINE void FO_NAME(sgd_wd)(
    size_t n, FO_T *p, const FO_T *g, FO_T *b, const FO_T sign, const FO_T lr,
    const FO_T momentum, const FO_T one_minus_dampening, const FO_T weight_decay,
    const int use_weight_decay, const int use_momentum, const int first, const int nesterov)
{
    if (use_weight_decay)
        FO_NAME(sgd_loop)(n, p, g, b, sign, lr, momentum, one_minus_dampening, weight_decay,
                          1, use_momentum, first, nesterov);
    else
        FO_NAME(sgd_loop)(n, p, g, b, sign, lr, momentum, one_minus_dampening, weight_decay,
                          0, use_momentum, first, nesterov);
}

void FO_NAME(sgd)(size_t n, void *p_, const void *g_, void *const *state,
                  const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_sgd_hyper */
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *b = (FO_T *)state[0]; /* NULL when momentum == 0 */
    const FO_T lr = (FO_T)hyper[0];
    const FO_T momentum = (FO_T)hyper[1];
    const FO_T one_minus_dampening = (FO_T)(1.0 - hyper[2]);
    const FO_T weight_decay = (FO_T)hyper[3];
    const FO_T sign = hyper[5] != 0.0 ? (FO_T)-1 : (FO_T)1;
    const int use_wd = hyper[3] != 0.0;
    const int use_momentum = hyper[1] != 0.0;
    const int nesterov = hyper[4] != 0.0;
    const int first = step == 1;

    /* Each branch is the same loop with the flags fixed, so each vectorizes on its own. */
#define FO_SGD(m, f, nv) FO_NAME(sgd_wd)(n, p, g, b, sign, lr, momentum, one_minus_dampening, \
                                         weight_decay, use_wd, m, f, nv)
    if (!use_momentum)          FO_SGD(0, 0, 0);
    else if (first && nesterov) FO_SGD(1, 1, 1);
    else if (first)             FO_SGD(1, 1, 0);
    else if (nesterov)          FO_SGD(1, 0, 1);
    else                        FO_SGD(1, 0, 0);
#undef FO_SGD
}

#undef FO_STREAMS
