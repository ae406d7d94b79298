/* stream probe --------------------------------------------------------------------------------
 *
 * Not an optimizer: the benchmark's memory-bandwidth bound. It moves the bytes a kernel with
 * n_state state buffers must move (read p, g, s_j; write p, s_j) with one add per buffer:
 *   p += g; s_j += g
 */
static void FO_NAME(stream_probe)(size_t n, void *p_, const void *g_, void *const *state,
                                  int n_state)
{
    FO_T *FO_RESTRICT p = (FO_T *)p_;
    const FO_T *FO_RESTRICT g = (const FO_T *)g_;
    FO_T *FO_RESTRICT s0 = n_state > 0 ? (FO_T *)state[0] : NULL;
    FO_T *FO_RESTRICT s1 = n_state > 1 ? (FO_T *)state[1] : NULL;
    FO_T *FO_RESTRICT s2 = n_state > 2 ? (FO_T *)state[2] : NULL;
    switch (n_state) {
    case 0: for (size_t i = 0; i < n; i++) { p[i] += g[i]; } break;
    case 1: for (size_t i = 0; i < n; i++) { p[i] += g[i]; s0[i] += g[i]; } break;
    case 2: for (size_t i = 0; i < n; i++) { p[i] += g[i]; s0[i] += g[i]; s1[i] += g[i]; } break;
    default:
        for (size_t i = 0; i < n; i++) { p[i] += g[i]; s0[i] += g[i]; s1[i] += g[i]; s2[i] += g[i]; }
        break;
    }
}
