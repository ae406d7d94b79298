/* stream probe --------------------------------------------------------------------------------
 *
 * Not an optimizer: the benchmark's memory-bandwidth bound. It moves the bytes a kernel with
 * n_state state buffers must move (read p, g, s_j; write p, s_j) with one add per buffer:
 *   p += g; s_j += g
 */
/* arrays a block loads (at most): FO_VU = FO_VTOTAL / FO_STREAMS vectors each (vec.h) */
#define FO_STREAMS 3

/* p += g; s_j += g for the first n_state of s0, s1, s2 (on vectors; the tail below is the
 * same on elements) */
#define FO_PROBE_MATH(P, G, S0, S1, S2) \
    do {                                 \
        (P) = (P) + (G);                 \
        if (n_state > 0) (S0) = (S0) + (G); \
        if (n_state > 1) (S1) = (S1) + (G); \
        if (n_state > 2) (S2) = (S2) + (G); \
    } while (0)

/* The same loop structure as the kernels (vec.h): blocks of loads, then adds, then stores. */
FO_INLINE void FO_NAME(stream_probe_loop)(
    size_t n, FO_T *FO_RESTRICT p, const FO_T *FO_RESTRICT g, FO_T *FO_RESTRICT s0,
    FO_T *FO_RESTRICT s1, FO_T *FO_RESTRICT s2, const int n_state)
{
    size_t i = 0;
#if FO_VBYTES
    for (; i + FO_VBLOCK <= FO_VBLOCK_LIMIT(n); i += FO_VBLOCK) {
        FO_VLOAD_ALL(G, g, i);
        FO_VLOAD_ALL(P, p, i);
        FO_V S0[FO_VU], S1[FO_VU], S2[FO_VU];
        FO_VEACH(k) {
            if (n_state > 0) S0[k] = FO_NAME(vload)(s0 + i + (size_t)k * FO_VLANES);
            if (n_state > 1) S1[k] = FO_NAME(vload)(s1 + i + (size_t)k * FO_VLANES);
            if (n_state > 2) S2[k] = FO_NAME(vload)(s2 + i + (size_t)k * FO_VLANES);
        }
        FO_VEACH(k) FO_PROBE_MATH(P[k], G[k], S0[k], S1[k], S2[k]);
        FO_VREADY(P);
        if (n_state > 0) FO_VREADY(S0);
        if (n_state > 1) FO_VREADY(S1);
        if (n_state > 2) FO_VREADY(S2);
        FO_VSTORES();
        FO_VSTORE_ALL(p, i, P);
        if (n_state > 0) FO_VSTORE_ALL(s0, i, S0);
        if (n_state > 1) FO_VSTORE_ALL(s1, i, S1);
        if (n_state > 2) FO_VSTORE_ALL(s2, i, S2);
    }
#endif
    for (; i < n; i++) {
        p[i] = p[i] + g[i];
        if (n_state > 0) s0[i] = s0[i] + g[i];
        if (n_state > 1) s1[i] = s1[i] + g[i];
        if (n_state > 2) s2[i] = s2[i] + g[i];
    }
}

#undef FO_PROBE_MATH

static void FO_NAME(stream_probe)(size_t n, void *p_, const void *g_, void *const *state,
                                  int n_state)
{
    FO_T *p = (FO_T *)p_;
    const FO_T *g = (const FO_T *)g_;
    FO_T *s0 = n_state > 0 ? (FO_T *)state[0] : NULL;
    FO_T *s1 = n_state > 1 ? (FO_T *)state[1] : NULL;
    FO_T *s2 = n_state > 2 ? (FO_T *)state[2] : NULL;
    /* one loop per count, so each is specialised */
    switch (n_state) {
    case 0: FO_NAME(stream_probe_loop)(n, p, g, s0, s1, s2, 0); break;
    case 1: FO_NAME(stream_probe_loop)(n, p, g, s0, s1, s2, 1); break;
    case 2: FO_NAME(stream_probe_loop)(n, p, g, s0, s1, s2, 2); break;
    default: FO_NAME(stream_probe_loop)(n, p, g, s0, s1, s2, 3); break;
    }
}

#undef FO_STREAMS
