/* adadelta -----------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype), with FO_T the element type, FO_SQRT its square
 * root and FO_NAME(x) the symbol for this ISA and dtype. The NumPy twin is
 * fastopt/reference/adadelta.py; both compute in this order, so results are bitwise equal.
 * The order is torch.optim.Adadelta's for-loop step (2.13). The step count is not used.
 *
 * hyper = [lr, rho, eps, weight_decay, maximize]
 * state = [square_avg, acc_delta]
 *
 *   g     = -g if maximize else g
 *   g     = g + weight_decay * p                       (only if weight_decay != 0)
 *   s     = s * rho
 *   s     = s + ((1 - rho) * g) * g
 *   delta = sqrt(a + eps) / sqrt(s + eps) * g
 *   a     = a * rho
 *   a     = a + ((1 - rho) * delta) * delta
 *   p     = p - lr * delta
 */

/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 4

/* One element, or one vector of elements: V is FO_T or FO_V, SQRT its square root. P, S
 * (square_avg) and A (acc_delta) are read and assigned; the scalars (sign, rho, ...) and the
 * flag are the loop's arguments. */
#define FO_ADADELTA_MATH(V, SQRT, P, G, S, A)                                                \
    do {                                                                                      \
        /* g = sign * g  (sign is -1 under maximize: exact) */                               \
        V g_ = sign * (G);                                                                    \
        /* g = g + weight_decay * p */                                                        \
        if (use_weight_decay) g_ = g_ + weight_decay * (P);                                   \
        /* s = s * rho;  s = s + ((1 - rho) * g) * g */                                       \
        V s_ = (S) * rho;                                                                     \
        s_ = s_ + (one_minus_rho * g_) * g_;                                                  \
        (S) = s_;                                                                             \
        /* delta = np.sqrt(a + eps) / np.sqrt(s + eps) * g */                                 \
        const V delta_ = SQRT((A) + eps) / SQRT(s_ + eps) * g_;                               \
        /* a = a * rho;  a = a + ((1 - rho) * delta) * delta */                               \
        V a_ = (A) * rho;                                                                     \
        a_ = a_ + (one_minus_rho * delta_) * delta_;                                          \
        (A) = a_;                                                                             \
        /* p = p - lr * delta */                                                              \
        (P) = (P) - lr * delta_;                                                              \
    } while (0)

FO_INLINE void FO_NAME(adadelta_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s,
    FO_T *FO_RESTRICT a, const FO_T sign, const FO_T weight_decay, const FO_T lr,
    const FO_T rho, const FO_T one_minus_rho, const FO_T eps, const int use_weight_decay)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, s, a, p; compute; store s, a, p (vec.h says why) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(S, s, i);
        FO_VLOAD_ALL(A, a, i);
        FO_VLOAD_ALL(P, p, i);
        FO_VEACH(k) FO_ADADELTA_MATH(FO_V, FO_VSQRT, P[k], G[k], S[k], A[k]);
        FO_VREADY(S);
        FO_VREADY(A);
        FO_VREADY(P);
        FO_VSTORES();
        FO_VSTORE_ALL(s, i, S);
        FO_VSTORE_ALL(a, i, A);
        FO_VSTORE_ALL(p, i, P);
    }
#endif
    for (; i < n; i++) FO_ADADELTA_MATH(FO_T, FO_SQRT, p[i], g[i], s[i], a[i]);
}

#undef FO_ADADELTA_MATH

void FO_NAME(adadelta)(size_t n, void *p_, const void *g_, void *const *state,
                       const void *hyper_, int64_t step)
{
    const double *hyper = (const double *)hyper_; /* TODO(idiom): fo_adadelta_hyper */
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *s = (FO_T *)state[0];
    FO_T *a = (FO_T *)state[1];
    const FO_T lr = (FO_T)hyper[0];
    const FO_T rho = (FO_T)hyper[1];
    const FO_T one_minus_rho = (FO_T)(1.0 - hyper[1]);
    const FO_T eps = (FO_T)hyper[2];
    const FO_T weight_decay = (FO_T)hyper[3];
    const FO_T sign = hyper[4] != 0.0 ? (FO_T)-1 : (FO_T)1;
    (void)step;

    /* Each branch is the same loop with the flag fixed, so each vectorizes on its own. */
    if (hyper[3] != 0.0)
        FO_NAME(adadelta_loop)(n, p, g, s, a, sign, weight_decay, lr, rho, one_minus_rho, eps, 1);
    else
        FO_NAME(adadelta_loop)(n, p, g, s, a, sign, weight_decay, lr, rho, one_minus_rho, eps, 0);
}

#undef FO_STREAMS
