/* rows: folding a row-sparse gradient ---------------------------------------------------------
 *
 * Shared by every row kernel (included per ISA and dtype like a kernel). The NumPy twin is
 * fastopt/reference/sparse.py:coalesce (np.unique + np.add.at).
 *
 * coalesce: one pass over the indices with an open-addressing hash of row -> slot (load
 * <= 1/2, linear probing), no sorting and nothing proportional to the table. A row seen once
 * keeps pointing at its row of `values` (no copy); a repeated row gets a scratch row holding
 * ((v_first + v_second) + ...) in order of appearance. Read by a kernel as 0 + g, that is
 * what
 *     G = np.zeros((n_rows, dim)); np.add.at(G, index, values)
 * computes for that row, bit for bit.
 *
 * With pos it folds only the indices at positions pos[0..n), in order (the rows threads.c gave
 * this thread: every index of a row, so a row's sum is the same whichever thread folds it and
 * results do not depend on the split).
 */

/* Row j's gradient in rs (see fo_row_set). */
FO_INLINE const FO_T *FO_NAME(row_grad)(const fo_row_set *rs, size_t j)
{
    return rs->grad ? (const FO_T *)rs->grad[j] : (const FO_T *)rs->dense + j * rs->dim;
}

static size_t FO_NAME(coalesce)(size_t dim, const int64_t *index,
                                const void *values_, const uint32_t *pos, size_t n,
                                fo_rows_work *w)
{
    const FO_T *values = (const FO_T *)values_;
    FO_T *scratch = (FO_T *)w->scratch;
    size_t m = 0, n_dup = 0;
    memset(w->table, 0xff, (w->mask + 1) * sizeof(uint32_t));
    for (size_t j = 0; j < n; j++) {
        const size_t i = pos ? pos[j] : j;
        const int64_t r = index[i];
        const FO_T *v = values + i * dim;
        size_t h = fo_row_hash(r, w->shift);
        for (;;) {
            const uint32_t s = w->table[h];
            if (s == FO_EMPTY) {
                /* first time: remember where its values are */
                w->table[h] = (uint32_t)m;
                w->rows[m] = r;
                w->grad[m] = v;
                w->dup[m] = FO_EMPTY;
                m++;
                break;
            }
            if (w->rows[s] == r) {
                if (w->dup[s] == FO_EMPTY) {
                    /* second time: acc = first + v, in a fresh scratch row (np.add.at's
                     * (0 + first) + v differs only for an all -0.0 sum, which the kernels'
                     * 0 + g read turns into +0.0 as well) */
                    const FO_T *first = (const FO_T *)w->grad[s];
                    FO_T *acc = scratch + n_dup * dim;
                    w->dup[s] = (uint32_t)n_dup++;
                    for (size_t d = 0; d < dim; d++) acc[d] = first[d] + v[d];
                    w->grad[s] = acc;
                } else {
                    /* later times: acc += v */
                    FO_T *acc = scratch + (size_t)w->dup[s] * dim;
                    for (size_t d = 0; d < dim; d++) acc[d] = acc[d] + v[d];
                }
                break;
            }
            h = (h + 1) & w->mask;
        }
    }
    return m;
}
