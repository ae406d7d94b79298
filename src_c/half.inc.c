/*
 * half.inc.c - half-precision storage around the float32 kernels, for the ISA path being
 * compiled (included once by isa_body.h).
 *
 * An item whose param (and grad) is bfloat16 or float16, whose param has float32 master
 * weights, or whose state is stored in bfloat16 (fastopt.h: fo_item's p_dtype, master,
 * state_dtype) runs its float32 kernel, unchanged, on tiles of FO_TILE elements held in L1:
 *
 *     for each tile [a, b) of the item (tiles start at multiples of FO_TILE):
 *         P   = master[a:b]          with master weights (in place), else float32(p[a:b])
 *         G   = float32(g[a:b])
 *         S_j = float32(s_j[a:b])    (s_j[a:b] in place where the state is float32)
 *         kernel(P, G, S)            the float32 kernel: the same math as a float32 param
 *         p[a:b]   = rne(P)          round to nearest even, to the param's dtype
 *         s_j[a:b] = rne(S_j)        or, for bfloat16 state of a float32 param,
 *                  = sr(S_j)         stochastic rounding (below)
 *
 * so every element gets the float32 step and then one rounding: fastopt.reference run in
 * float32 and rounded (fastopt/reference/_half.py), bitwise, whatever the ISA path, the tile
 * or the thread split. Each array is still read once and written once per step.
 *
 * Stochastic rounding of x (float32 bits u) to bfloat16 adds 16 random bits below the kept
 * ones and truncates: (u + r) >> 16, so x rounds away from zero with probability equal to
 * the dropped fraction (unbiased). r depends only on (seed, the param's index, step, state
 * buffer j, the element's index): the same for any thread count, reproducible from the seed.
 *
 *     k   = mix64(seed + GOLDEN * (index + 1))      (per param: fo_item.seed is the sum)
 *     key = low32(mix64(k ^ (step * 4 + j) ^ ((i >> 32) << 56)))    (per tile)
 *     r   = mix32(low32(i) ^ key) >> 16                             (per element i)
 *
 * (mix64: splitmix64's finalizer; mix32: murmur3's.)
 */

#define FO_TILE 1024

FO_INLINE uint64_t fo_mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ull;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

FO_INLINE uint32_t fo_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

FO_INLINE uint32_t fo_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
FO_INLINE float fo_f32_from(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- bfloat16: the top half of a float32 ---- */

/* x.astype(np.float32) for bfloat16 x */
FO_INLINE float fo_bf16_load(uint16_t h) { return fo_f32_from((uint32_t)h << 16); }

/* x.astype(bfloat16): round to nearest even; a NaN stays a (quiet) NaN */
FO_INLINE uint16_t fo_bf16_rne(float f)
{
    const uint32_t u = fo_f32_bits(f);
    const uint16_t nan = (uint16_t)((u >> 16) | 0x40u);
    const uint16_t rounded = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
}

/* stochastic rounding with 16 random bits r (see above) */
FO_INLINE uint16_t fo_bf16_sr(float f, uint32_t r)
{
    const uint32_t u = fo_f32_bits(f);
    const uint16_t nan = (uint16_t)((u >> 16) | 0x40u);
    const uint16_t rounded = (uint16_t)((u + r) >> 16);
    return (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
}

/* ---- float16 (IEEE binary16), in software; the F16C instructions where the path has them
 * (the same bits: both round to nearest even, subnormals kept) ---- */

/* x.astype(np.float32) for float16 x */
FO_INLINE float fo_f16_load(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t em = h & 0x7fffu;
    uint32_t u;
    if (em >= 0x7c00u)        /* inf, or NaN (made quiet) */
        u = 0x7f800000u | ((em & 0x3ffu) << 13) | ((em & 0x3ffu) ? 0x400000u : 0u);
    else if (em >= 0x400u)    /* normal: rebias the exponent */
        u = (em << 13) + ((uint32_t)(127 - 15) << 23);
    else                      /* zero or subnormal: em * 2^-24, exact */
        u = fo_f32_bits((float)em * 5.9604644775390625e-8f);
    return fo_f32_from(u | sign);
}

/* x.astype(np.float16): round to nearest even (overflow to inf, subnormals kept) */
FO_INLINE uint16_t fo_f16_rne(float f)
{
    uint32_t u = fo_f32_bits(f);
    const uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= 0x47800000u) {            /* 65536 or more, inf or NaN */
        o = u > 0x7f800000u ? (uint16_t)(0x7e00u | ((u >> 13) & 0x3ffu)) : (uint16_t)0x7c00u;
    } else if (u < 0x38800000u) {      /* below 2^-14: a subnormal half or zero; adding 0.5
                                        * leaves the rounded half's bits at the bottom */
        o = (uint16_t)(fo_f32_bits(fo_f32_from(u) + 0.5f) - 0x3f000000u);
    } else {                           /* normal: rebias, round (ties to even), shift */
        const uint32_t odd = (u >> 13) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

/* ---- whole runs: vectors of FO_VBYTES / 4 lanes where the path has them (GCC/Clang vector
 * types; lane by lane the same integer operations as the element functions above), then the
 * element functions ---- */

#if FO_VBYTES
#define FO_HL (FO_VBYTES / 4)   /* lanes of a float32 vector */
typedef uint32_t FO_ISA_NAME(u32v) __attribute__((vector_size(FO_VBYTES)));
typedef uint32_t FO_ISA_NAME(u32v_u) __attribute__((vector_size(FO_VBYTES), aligned(4),
                                                     may_alias));
typedef uint16_t FO_ISA_NAME(u16v) __attribute__((vector_size(FO_VBYTES / 2)));
typedef uint16_t FO_ISA_NAME(u16v_u) __attribute__((vector_size(FO_VBYTES / 2), aligned(2),
                                                     may_alias));
#define FO_U32V FO_ISA_NAME(u32v)
#define FO_U16V FO_ISA_NAME(u16v)

/* fo_bf16_load on FO_HL elements */
FO_INLINE void FO_ISA_NAME(bf16_load_v)(const uint16_t *x, float *out)
{
    const FO_U16V h = *(const FO_ISA_NAME(u16v_u) *)x;
    *(FO_ISA_NAME(u32v_u) *)out = __builtin_convertvector(h, FO_U32V) << 16;
}

/* the bits (u >> 16) of a bfloat16 result, or its quiet NaN where u is a NaN, stored */
FO_INLINE void FO_ISA_NAME(bf16_put_v)(uint16_t *x, FO_U32V u, FO_U32V rounded)
{
    const FO_U32V nan = (FO_U32V)((u & 0x7fffffffu) > 0x7f800000u);
    const FO_U32V o = (nan & ((u >> 16) | 0x40u)) | (~nan & rounded);
    *(FO_ISA_NAME(u16v_u) *)x = __builtin_convertvector(o, FO_U16V);
}

/* fo_bf16_rne on FO_HL elements */
FO_INLINE void FO_ISA_NAME(bf16_rne_v)(const float *v, uint16_t *x)
{
    const FO_U32V u = *(const FO_ISA_NAME(u32v_u) *)v;
    FO_ISA_NAME(bf16_put_v)(x, u, (u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* fo_mix32 on lanes */
FO_INLINE FO_U32V FO_ISA_NAME(mix32_v)(FO_U32V x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}
#endif

/* out[i] = float32(x[i]) */
static void FO_ISA_NAME(half_load)(int dtype, size_t n, const uint16_t *x, float *out)
{
    size_t i = 0;
    if (dtype == FO_BF16) {
#if FO_VBYTES
        for (; i + FO_HL <= n; i += FO_HL) FO_ISA_NAME(bf16_load_v)(x + i, out + i);
#endif
        for (; i < n; i++) out[i] = fo_bf16_load(x[i]);
        return;
    }

/* out[i] = float32(x[i]) */
#if FO_F16C == 512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
#elif FO_F16C == 256
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
#endif
    for (; i < n; i++) out[i] = fo_f16_load(x[i]);
}

/* x[i] = rne(v[i]) in dtype */
static void FO_ISA_NAME(half_store)(int dtype, size_t n, const float *v, uint16_t *x)
{
    size_t i = 0;
    if (dtype == FO_BF16) {
#if FO_VBYTES
        for (; i + FO_HL <= n; i += FO_HL) FO_ISA_NAME(bf16_rne_v)(v + i, x + i);
#endif
        for (; i < n; i++) x[i] = fo_bf16_rne(v[i]);
        return;
    }
#if FO_F16C == 512
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(x + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT));
#elif FO_F16C == 256
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(x + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) x[i] = fo_f16_rne(v[i]);
}

/* x[i] = sr(v[i]) in bfloat16, for elements first, first + 1, ... of the param; the tile
 * [first, first + n) lies within one 2^32 block of the index */
static void FO_ISA_NAME(bf16_store_sr)(size_t n, const float *v, uint16_t *x, uint64_t seed,
                                       int64_t step, int j, uint64_t first)
{
    const uint32_t key = (uint32_t)fo_mix64(seed ^ ((uint64_t)step * 4u + (uint64_t)j) ^
                                            ((first >> 32) << 56));
    const uint32_t base = (uint32_t)first;
    size_t i = 0;
#if FO_VBYTES
    FO_U32V index;
    for (int k = 0; k < FO_HL; k++) index[k] = base + (uint32_t)k;
    for (; i + FO_HL <= n; i += FO_HL, index += (uint32_t)FO_HL) {
        const FO_U32V u = *(const FO_ISA_NAME(u32v_u) *)(v + i);
        const FO_U32V r = FO_ISA_NAME(mix32_v)(index ^ key) >> 16;
        FO_ISA_NAME(bf16_put_v)(x + i, u, (u + r) >> 16);
    }
#endif
    for (; i < n; i++)
        x[i] = fo_bf16_sr(v[i], fo_mix32((base + (uint32_t)i) ^ key) >> 16);
}

/* Elements [lo, hi) of a half-precision item through the float32 kernel (see above). */
static void FO_ISA_NAME(run_half)(const fo_item *it, fo_dense_fn kernel, size_t lo, size_t hi,
                                  int64_t step)
{
    float P[FO_TILE] __attribute__((aligned(64)));
    float G[FO_TILE] __attribute__((aligned(64)));
    float S[FO_MAX_STATE][FO_TILE] __attribute__((aligned(64)));
    const int half_p = it->p_dtype != FO_F32, half_s = it->state_dtype != FO_F32;
    const uint64_t seed = fo_mix64(it->seed);
    size_t a = lo;
    while (a < hi) {
        size_t b = (a / FO_TILE + 1) * FO_TILE;
        if (b > hi) b = hi;
        const size_t m = b - a;
        float *p = it->master ? (float *)it->master + a : half_p ? P : (float *)it->p + a;
        const float *g = G;
        if (half_p) {
            if (!it->master) FO_ISA_NAME(half_load)(it->p_dtype, m, (const uint16_t *)it->p + a, P);
            FO_ISA_NAME(half_load)(it->p_dtype, m, (const uint16_t *)it->g + a, G);
        } else {
            g = (const float *)it->g + a;
        }
        void *state[FO_MAX_STATE];
        for (int j = 0; j < FO_MAX_STATE; j++) {
            if (!it->state[j] || ((it->scalars >> j) & 1u)) {
                state[j] = it->state[j];   /* off, or scalar state: the same for every tile */
            } else if (half_s) {
                FO_ISA_NAME(half_load)(it->state_dtype, m, (const uint16_t *)it->state[j] + a,
                                       S[j]);
                state[j] = S[j];
            } else {
                state[j] = (float *)it->state[j] + a;
            }
        }
        kernel(m, p, g, state, it->hyper, step);
        if (half_p) FO_ISA_NAME(half_store)(it->p_dtype, m, p, (uint16_t *)it->p + a);
        for (int j = 0; j < FO_MAX_STATE && half_s; j++) {
            if (!it->state[j] || ((it->scalars >> j) & 1u)) continue;
            uint16_t *s = (uint16_t *)it->state[j] + a;
            if (it->stochastic) FO_ISA_NAME(bf16_store_sr)(m, S[j], s, seed, step, j, a);
            else FO_ISA_NAME(half_store)(it->state_dtype, m, S[j], s);
        }
        a = b;
    }
}
