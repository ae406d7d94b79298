/* adafactor ------------------------------------------------------------------------------------
 *
 * Included by isa_body.h once per (ISA, dtype). torch.optim.Adafactor's step (2.13, the
 * for-loop one) in one fixed order: the NumPy twin is fastopt/reference/adafactor.py; both
 * compute in this order, so results are bitwise equal on every ISA path. A param of two or
 * more dimensions is seen as `batches` matrices of `rows` x `cols` (its last two dims, C order;
 * registry.h: the plan fills `rows` and `cols`) and keeps factored second moments, row_var
 * (one per row) and col_var (one per column); a vector keeps `variance`, like the param. The
 * norms need the whole param, so threads.c never cuts it (registry.h: FO_WHOLE_KERNELS).
 *
 * hyper: fo_adafactor_hyper (registry.h)
 * state: row_var, col_var (2-D and up) or variance (0-D and 1-D); the others are NULL
 *
 *   w     = t ** beta2_decay            (double, rounded to the dtype);  rho = min(lr, 1 / sqrt(t))
 *   eps1  = finfo(dtype).eps            if eps1 is None (hyper eps1 < 0)
 *   alpha = max(eps2, sqrt(pp) / sqrt(n)) * rho      pp = sum(float64(p) ** 2)   (sums: below)
 *   g     = -g                          if maximize
 *   factored:
 *     row_var = row_var.lerp(float64 sum of g ** 2 along the row / cols, w)
 *     col_var = col_var.lerp(float64 sum of g ** 2 down the column / rows, w)
 *     rden    = max(float64 sum of the matrix's row_var / rows, eps1)
 *     v       = (row_var / rden) * col_var
 *   else:
 *     variance = variance.lerp(g * g, w);  v = variance
 *   u     = g / sqrt(max(v, eps1 * eps1))
 *   denom = max(1, sqrt(uu) / (sqrt(n) * d))          uu = sum(float64(u) ** 2)
 *   p     = p * (1 - lr * weight_decay)  if weight_decay != 0
 *   p     = p - (alpha / denom) * u      (alpha / denom rounded to the dtype)
 *
 * The sums, the same on every ISA path: the param is `lines` of `cols` elements (one line of n
 * for a vector). A line's sum puts element c in lane c % 16 of a float64 accumulator, adds the
 * lanes up in order, then folds them 16 -> 8 -> 4 -> 2 -> 1 (lane k += lane k + w); pp and uu
 * add the lines' sums in order; a column's sum and a matrix's row_var sum add in row order.
 * lerp is torch's (vec.h); max(a, b) of arrays is np.maximum, of the doubles Python's max.
 */
#include <float.h>

#define FO_AF_LANES 16
#define FO_AF_WIDE 4096  /* columns whose float64 sums fit on the stack (32 KiB) */
#define FO_AF_COLS 256   /* wider matrices: columns summed at once, in a second read */

/* sum(float64(x[c]) ** 2 for c < len) in the line order above */
FO_INLINE double FO_NAME(adafactor_line)(size_t len, const FO_T *FO_RESTRICT x)
{
    double a[FO_AF_LANES] = {0};
    size_t c = 0;
    for (; c + FO_AF_LANES <= len; c += FO_AF_LANES)
        for (int k = 0; k < FO_AF_LANES; k++) a[k] += (double)x[c + k] * (double)x[c + k];
    for (int k = 0; c + (size_t)k < len; k++) a[k] += (double)x[c + k] * (double)x[c + k];
    for (int w = FO_AF_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) a[k] += a[k + w];
    return a[0];
}

/* u = g / sqrt(np.maximum(v, eps1 * eps1)) */
FO_INLINE FO_T FO_NAME(adafactor_u)(FO_T g, FO_T v, FO_T eps1_sq)
{
    return g / FO_NAME(sqrt_s)(FO_NAME(maximum_s)(v, eps1_sq));
}

/* the per-step scalars, in the param's dtype */
typedef struct {
    FO_T sign;       /* -1 under maximize, else 1 (exact) */
    FO_T coeff;      /* the lerp weight: w, or w - 1 when w >= 0.5 */
    int high;        /* w >= 0.5 */
    FO_T eps1;
    FO_T eps1_sq;
    FO_T decay;      /* 1 - lr * weight_decay */
    int decays;      /* weight_decay != 0 */
} FO_NAME(adafactor_scalars);

/* uu of one line of a factored matrix: u from g, its row's rvn = row_var / rden and the
 * matrix's col_var */
FO_INLINE double FO_NAME(adafactor_line_uu)(size_t cols, const FO_T *FO_RESTRICT g, FO_T rvn,
                                           const FO_T *FO_RESTRICT cv,
                                           const FO_NAME(adafactor_scalars) *c)
{
    double a[FO_AF_LANES] = {0};
    size_t j = 0;
    for (; j + FO_AF_LANES <= cols; j += FO_AF_LANES)
        for (int k = 0; k < FO_AF_LANES; k++) {
            const FO_T u = FO_NAME(adafactor_u)(c->sign * g[j + k], rvn * cv[j + k],
                                                c->eps1_sq);
            a[k] += (double)u * (double)u;
        }
    for (int k = 0; j + (size_t)k < cols; k++) {
        const FO_T u = FO_NAME(adafactor_u)(c->sign * g[j + k], rvn * cv[j + k],
                                            c->eps1_sq);
        a[k] += (double)u * (double)u;
    }
    for (int w = FO_AF_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) a[k] += a[k + w];
    return a[0];
}

/* rden = np.maximum(sum(float64(row_var)) / rows, eps1), row_var of one matrix, in row order */
FO_INLINE FO_T FO_NAME(adafactor_rden)(size_t rows, const FO_T *FO_RESTRICT rv, FO_T eps1)
{
    double rsum = 0.0;
    for (size_t r = 0; r < rows; r++) rsum += (double)rv[r];
    return FO_NAME(maximum_s)((FO_T)(rsum / (double)rows), eps1);
}

/* col_var = col_var.lerp(acc / rows, w) for m columns whose float64 sums are acc */
FO_INLINE void FO_NAME(adafactor_cols)(size_t m, size_t rows, const double *acc,
                                       FO_T *FO_RESTRICT cv, const FO_NAME(adafactor_scalars) *c)
{
    for (size_t k = 0; k < m; k++)
        cv[k] = FO_NAME(lerp_s)(cv[k], (FO_T)(acc[k] / (double)rows), c->coeff, c->high);
}

/* One matrix (rows x cols) of a factored param: its lines' pp added to *pp in order, its
 * row_var and col_var moved on, and its lines' uu added to *uu in order. A matrix of at
 * most FO_AF_WIDE columns is read once for pp and both factors (the column sums on the
 * stack); a wider one has its column sums FO_AF_COLS at a time, a second read: the same
 * sums either way (each column's in row order). */
FO_INLINE void FO_NAME(adafactor_factors)(size_t rows, size_t cols, const FO_T *FO_RESTRICT p,
                                          const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT rv,
                                          FO_T *FO_RESTRICT cv,
                                          const FO_NAME(adafactor_scalars) *c, double *pp,
                                          double *uu)
{
    double acc[FO_AF_WIDE];
    const int wide = cols > FO_AF_WIDE;
    if (!wide)
        for (size_t k = 0; k < cols; k++) acc[k] = 0.0;
    /* pp += sum(float64(p) ** 2) per line;  row_var = row_var.lerp(sum(float64(g) ** 2,
     * axis=1) / cols, w);  acc += float64(g) ** 2, row after row */
    for (size_t r = 0; r < rows; r++) {
        const FO_T *x = g + r * cols;
        *pp += FO_NAME(adafactor_line)(cols, p + r * cols);
        const FO_T mean = (FO_T)(FO_NAME(adafactor_line)(cols, x) / (double)cols);
        rv[r] = FO_NAME(lerp_s)(rv[r], mean, c->coeff, c->high);
        if (!wide)
            for (size_t k = 0; k < cols; k++) acc[k] += (double)x[k] * (double)x[k];
    }
    /* col_var = col_var.lerp(sum(float64(g) ** 2, axis=0) / rows, w) */
    if (!wide) {
        FO_NAME(adafactor_cols)(cols, rows, acc, cv, c);
    } else {
        for (size_t c0 = 0; c0 < cols; c0 += FO_AF_COLS) {
            const size_t m = cols - c0 < FO_AF_COLS ? cols - c0 : FO_AF_COLS;
            for (size_t k = 0; k < m; k++) acc[k] = 0.0;
            for (size_t r = 0; r < rows; r++) {
                const FO_T *x = g + r * cols + c0;
                for (size_t k = 0; k < m; k++) acc[k] += (double)x[k] * (double)x[k];
            }
            FO_NAME(adafactor_cols)(m, rows, acc, cv + c0, c);
        }
    }
    const FO_T rden = FO_NAME(adafactor_rden)(rows, rv, c->eps1);
    for (size_t r = 0; r < rows; r++)
        *uu += FO_NAME(adafactor_line_uu)(cols, g + r * cols, rv[r] / rden, cv, c);
}

void FO_NAME(adafactor)(size_t n, void *p_, const void *g_, void *const *state,
                        const void *hyper, int64_t step)
{
    const fo_adafactor_hyper *h = (const fo_adafactor_hyper *)hyper;
    FO_T *FO_RESTRICT p = (FO_T *)p_;
    const FO_T *FO_RESTRICT g = (const FO_T *)g_;
    FO_T *row_var = (FO_T *)state[0], *col_var = (FO_T *)state[1];
    FO_T *variance = (FO_T *)state[2];
    const int factored = row_var != NULL;
    const size_t cols = factored ? (size_t)h->cols : n, rows = factored ? (size_t)h->rows : 1;
    if (n == 0 || cols == 0 || rows == 0) return;
    const size_t lines = n / cols, batches = lines / rows;

    /* per-step scalars, in double */
    const double t = (double)step;
    const double eps1 = h->eps1 < 0.0 ? (sizeof(FO_T) == 4 ? (double)FLT_EPSILON : DBL_EPSILON)
                                      : h->eps1;
    const double w = pow(t, h->beta2_decay);
    const double inv_sqrt_t = 1.0 / sqrt(t);
    const double rho = inv_sqrt_t < h->lr ? inv_sqrt_t : h->lr;        /* min(lr, 1/sqrt(t)) */
    FO_NAME(adafactor_scalars) c;
    c.sign = h->maximize != 0.0 ? (FO_T)-1 : (FO_T)1;
    const FO_T w_t = (FO_T)w;
    c.high = !(w_t < (FO_T)0.5);
    c.coeff = c.high ? w_t - (FO_T)1 : w_t;
    c.eps1 = (FO_T)eps1;
    c.eps1_sq = (FO_T)(eps1 * eps1);
    c.decay = (FO_T)(1.0 - h->lr * h->weight_decay);
    c.decays = h->weight_decay != 0.0;

    /* pp and uu (in the orders above), and the second moments, in one read of p and g */
    double pp = 0.0, uu = 0.0;
    if (factored) {
        for (size_t b = 0; b < batches; b++)
            FO_NAME(adafactor_factors)(rows, cols, p + b * rows * cols, g + b * rows * cols,
                                       row_var + b * rows, col_var + b * cols, &c, &pp, &uu);
    } else {
        /* variance = variance.lerp(g * g, w);  u = g / sqrt(np.maximum(variance, eps1 ** 2)) */
        double a[FO_AF_LANES] = {0}, ap[FO_AF_LANES] = {0};
        size_t i = 0;
#define FO_AF_VECTOR_ELEMENT(k)                                                         \
        do {                                                                            \
            const FO_T gi = c.sign * g[i + (k)];                                        \
            const FO_T v = FO_NAME(lerp_s)(variance[i + (k)], gi * gi, c.coeff, c.high); \
            variance[i + (k)] = v;                                                      \
            const FO_T u = FO_NAME(adafactor_u)(gi, v, c.eps1_sq);                      \
            ap[k] += (double)p[i + (k)] * (double)p[i + (k)];                           \
            a[k] += (double)u * (double)u;                                              \
        } while (0)
        for (; i + FO_AF_LANES <= n; i += FO_AF_LANES)   /* 16 at a time: lane k, element i + k */
            for (int k = 0; k < FO_AF_LANES; k++) FO_AF_VECTOR_ELEMENT(k);
        for (int k = 0; i + (size_t)k < n; k++) FO_AF_VECTOR_ELEMENT(k);
#undef FO_AF_VECTOR_ELEMENT
        for (int k = FO_AF_LANES / 2; k >= 1; k /= 2)
            for (int j = 0; j < k; j++) {
                a[j] += a[j + k];
                ap[j] += ap[j + k];
            }
        uu = a[0];
        pp = ap[0];
    }
    /* alpha = max(eps2, ||p|| / sqrt(n)) * rho, of p before the decay */
    const double rms_p = sqrt(pp) / sqrt((double)n);
    const double alpha = (rms_p > h->eps2 ? rms_p : h->eps2) * rho;

    /* denom = max(1, ||u|| / (sqrt(n) * d));  p = p * decay;  p = p - (alpha / denom) * u */
    const double rms_u = sqrt(uu) / (sqrt((double)n) * h->d);
    const double denom = rms_u > 1.0 ? rms_u : 1.0;
    const FO_T step_t = (FO_T)(alpha / denom);
    if (factored) {
        for (size_t b = 0; b < batches; b++) {
            const FO_T *rv = row_var + b * rows, *cv = col_var + b * cols;
            const FO_T rden = FO_NAME(adafactor_rden)(rows, rv, c.eps1);
            for (size_t r = 0; r < rows; r++) {
                FO_T *pl = p + (b * rows + r) * cols;
                const FO_T *gl = g + (b * rows + r) * cols;
                const FO_T rvn = rv[r] / rden;
                for (size_t j = 0; j < cols; j++) {
                    const FO_T u = FO_NAME(adafactor_u)(c.sign * gl[j], rvn * cv[j], c.eps1_sq);
                    FO_T x = pl[j];
                    if (c.decays) x = x * c.decay;
                    pl[j] = x - step_t * u;
                }
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const FO_T u = FO_NAME(adafactor_u)(c.sign * g[i], variance[i], c.eps1_sq);
            FO_T x = p[i];
            if (c.decays) x = x * c.decay;
            p[i] = x - step_t * u;
        }
    }
}

#undef FO_AF_LANES
#undef FO_AF_COLS
#undef FO_AF_WIDE
