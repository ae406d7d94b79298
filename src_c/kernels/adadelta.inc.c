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

FO_INLINE void FO_NAME(adadelta_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s,
    FO_T *FO_RESTRICT a, const FO_T sign, const FO_T weight_decay, const FO_T lr,
    const FO_T rho, const FO_T one_minus_rho, const FO_T eps, const int use_weight_decay)
{
    for (size_t i = 0; i < n; i++) {
        /* g = sign * g  (sign is -1 under maximize: exact) */
        FO_T gi = sign * g[i];
        /* g = g + weight_decay * p */
        if (use_weight_decay) gi = gi + weight_decay * p[i];
        /* s = s * rho;  s = s + ((1 - rho) * g) * g */
        FO_T si = s[i] * rho;
        si = si + (one_minus_rho * gi) * gi;
        s[i] = si;
        /* delta = np.sqrt(a + eps) / np.sqrt(s + eps) * g */
        const FO_T delta = FO_SQRT(a[i] + eps) / FO_SQRT(si + eps) * gi;
        /* a = a * rho;  a = a + ((1 - rho) * delta) * delta */
        FO_T ai = a[i] * rho;
        ai = ai + (one_minus_rho * delta) * delta;
        a[i] = ai;
        /* p = p - lr * delta */
        p[i] = p[i] - lr * delta;
    }
}

void FO_NAME(adadelta)(size_t n, void *p_, const void *g_, void *const *state,
                       const double *hyper, int64_t step)
{
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
