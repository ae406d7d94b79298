/* stream probe --------------------------------------------------------------------------------
 *
 * Not an optimizer: the benchmark's memory-bandwidth bound, in the kernel idiom (isa_body.h)
 * with no scalars. It moves the bytes a kernel with n_state state buffers must move (read p,
 * g, s_j; write p, s_j) with one add per buffer:
 *
 *   p   = p + g
 *   s_j = s_j + g                                      (j < n_state, n_state in 0..3)
 *
 * Its one "flag" is n_state itself: each count is a loop of its own.
 */
/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* One element or vector: p and s_j (j < F, F = n_state) are read and written, g is read;
 * s_j for j >= F is never touched (it may be NULL). */
#define FO_PROBE_MATH(X, V)                                                                   \
    FO_INLINE void FO_NAME(stream_probe_math_##X)(V *p, V g, V *s0, V *s1, V *s2,             \
                                                  const unsigned F)                           \
    {                                                                                         \
        /* p += g */                                                                          \
        *p = *p + g;                                                                          \
        /* s_j += g for the first n_state of s0, s1, s2 */                                    \
        if (F > 0u) *s0 = *s0 + g;                                                            \
        if (F > 1u) *s1 = *s1 + g;                                                            \
        if (F > 2u) *s2 = *s2 + g;                                                            \
    }
FO_MATH_FNS(FO_PROBE_MATH)
#undef FO_PROBE_MATH

/* The same loop structure as the kernels (vec.h): blocks of loads, then adds, then stores. */
FO_INLINE void FO_NAME(stream_probe_loop)(size_t n, FO_T *FO_RESTRICT p,
                                          const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s0,
                                          FO_T *FO_RESTRICT s1, FO_T *FO_RESTRICT s2,
                                          const unsigned F)
{
    size_t i = 0;
#if FO_VBYTES
    /* blocks: load g, p, s_j; compute; store p, s_j (vec.h) */
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(P, p, i);
        FO_V S0[FO_VU], S1[FO_VU], S2[FO_VU];
        FO_VEACH(k) {
            if (F > 0u) S0[k] = FO_NAME(vload)(s0 + i + (size_t)k * FO_VLANES);
            if (F > 1u) S1[k] = FO_NAME(vload)(s1 + i + (size_t)k * FO_VLANES);
            if (F > 2u) S2[k] = FO_NAME(vload)(s2 + i + (size_t)k * FO_VLANES);
        }
        FO_VEACH(k) FO_NAME(stream_probe_math_v)(&P[k], G[k], &S0[k], &S1[k], &S2[k], F);
        FO_VREADY(P);
        if (F > 0u) FO_VREADY(S0);
        if (F > 1u) FO_VREADY(S1);
        if (F > 2u) FO_VREADY(S2);
        FO_VSTORES();
        FO_VSTORE_ALL(p, i, P);
        if (F > 0u) FO_VSTORE_ALL(s0, i, S0);
        if (F > 1u) FO_VSTORE_ALL(s1, i, S1);
        if (F > 2u) FO_VSTORE_ALL(s2, i, S2);
    }
#endif
    /* (s_j for j >= n_state is NULL: no pointer is formed into it) */
    for (; i < n; i++)
        FO_NAME(stream_probe_math_s)(&p[i], g[i], F > 0u ? &s0[i] : NULL,
                                     F > 1u ? &s1[i] : NULL, F > 2u ? &s2[i] : NULL, F);
}

/* n_state is 0..3 (fastopt._kernels.stream_probe refuses more). */
static void FO_NAME(stream_probe)(size_t n, void *p, const void *g, void *const *state,
                                  int n_state)
{
    FO_T *s0 = n_state > 0 ? (FO_T *)state[0] : NULL;
    FO_T *s1 = n_state > 1 ? (FO_T *)state[1] : NULL;
    FO_T *s2 = n_state > 2 ? (FO_T *)state[2] : NULL;
#define FO_CALL(F) FO_NAME(stream_probe_loop)(n, (FO_T *)p, (const FO_T *)g, s0, s1, s2, F)
    FO_SPECIALIZE_2((unsigned)n_state, FO_CALL);
#undef FO_CALL
}

#undef FO_STREAMS
