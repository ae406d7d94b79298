/*
 * half_convert.h - bfloat16 and float16 to and from float32, for the ISA path being
 * compiled (included once by isa_body.h, before the storage compiles of the kernels and
 * half.h, which use it): element functions, vector functions for the kernels' storage
 * compiles (FO_VLOAD_AT / FO_VSTORE_AT in vec.h), and whole runs for half.h's tiles.
 * Every path and every form give the same bits: round to nearest even (ties to even,
 * subnormals kept, overflow to inf, a NaN stays a quiet NaN), or stochastic rounding with
 * the random bits of half.h's header.
 */

#define FO_TILE 1024
/* The storage compiles run whole blocks over a multiple of this many elements (a multiple of
 * every kernel's block on every path: vec.h checks it); half.h tiles the rest. */
#define FO_HALF_BLOCK 2304

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

/* Element types of half-precision storage, distinct so that a kernel's loads and stores pick
 * their conversion by the pointer's type (vec.h: FO_VLOAD_AT). fo_bf16sr: bfloat16 state
 * stored with stochastic rounding. */
#ifndef FO_HALF_TYPES
#define FO_HALF_TYPES
typedef struct { uint16_t bits; } fo_bf16;
typedef struct { uint16_t bits; } fo_f16;
typedef struct { uint16_t bits; } fo_bf16sr;
#endif

/* The stochastic rounding key of the pair of state buffers 2 * pair, 2 * pair + 1 for elements
 * in first's 2^32 block (seed: the param's, mixed: half.h's header) */
FO_INLINE uint32_t fo_sr_key(uint64_t seed, int64_t step, int pair, uint64_t first)
{
    return (uint32_t)fo_mix64(seed ^ ((uint64_t)step * 4u + (uint64_t)pair) ^
                              ((first >> 32) << 56));
}

/* state buffer j's 16 random bits of the pair's hash h: the high half for even j, the low
 * half for odd j */
FO_INLINE uint32_t fo_sr_bits(uint32_t h, int j) { return (j & 1) ? h & 0xffffu : h >> 16; }

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

/* fo_bf16_load on FO_HL elements (the widening in one instruction where the path has it: on
 * AVX-512 a word permute that puts element k in the high half of lane k and zeroes the low
 * halves; the compiler's own form of it takes five on AVX2) */
FO_INLINE void FO_ISA_NAME(bf16_load_v)(const uint16_t *x, float *out)
{
#if FO_F16C == 512
    const __m512i to_high = _mm512_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10,
                                             9, 9, 8, 8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2,
                                             1, 1, 0, 0);
    _mm512_storeu_si512((void *)out, _mm512_maskz_permutexvar_epi16(
        0xaaaaaaaau, to_high, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x))));
#elif FO_F16C == 256
    _mm256_storeu_si256((__m256i *)out, _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)x)), 16));
#else
    const FO_U16V h = *(const FO_ISA_NAME(u16v_u) *)x;
    *(FO_ISA_NAME(u32v_u) *)out = __builtin_convertvector(h, FO_U32V) << 16;
#endif
}

/* Stored: the high half of each lane of sum (u plus its rounding's addend: the result's bits
 * are sum >> 16), or where u is a NaN its quiet NaN (u >> 16) | 0x40. On AVX-512 the NaN
 * test is one float classification and one word permute picks the high halves (fewer
 * instructions than a shift and a narrowing move: fastopt/bench/README.md, "Half precision"). */
FO_INLINE void FO_ISA_NAME(bf16_put_v)(uint16_t *x, FO_U32V u, FO_U32V sum)
{
#if FO_F16C == 512
    const __m512i high_halves = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9,
                                                 7, 5, 3, 1, 31, 29, 27, 25, 23, 21, 19, 17,
                                                 15, 13, 11, 9, 7, 5, 3, 1);
    const __mmask16 nan = _mm512_fpclass_ps_mask((__m512)u, 0x81);   /* quiet or signalling */
    const __m512i r = _mm512_mask_or_epi32((__m512i)sum, nan, (__m512i)u,
                                           _mm512_set1_epi32(0x400000));
    _mm256_storeu_si256((__m256i *)x,
                        _mm512_castsi512_si256(_mm512_permutexvar_epi16(high_halves, r)));
#elif FO_F16C == 256
    const __m256i v = (__m256i)u;
    const __m256i nan = _mm256_cmpgt_epi32(   /* (signed: both sides are >= 0) */
        _mm256_and_si256(v, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    const __m256i r = _mm256_blendv_epi8(_mm256_srli_epi32((__m256i)sum, 16), _mm256_or_si256(
        _mm256_srli_epi32(v, 16), _mm256_set1_epi32(0x40)), nan);
    /* (packus keeps each value: all are <= 0xffff) */
    _mm_storeu_si128((__m128i *)x, _mm_packus_epi32(_mm256_castsi256_si128(r),
                                                    _mm256_extracti128_si256(r, 1)));
#else
    const FO_U32V nan = (FO_U32V)((u & 0x7fffffffu) > 0x7f800000u);
    const FO_U32V o = (nan & ((u >> 16) | 0x40u)) | (~nan & (sum >> 16));
    *(FO_ISA_NAME(u16v_u) *)x = __builtin_convertvector(o, FO_U16V);
#endif
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

/* ---- the kernels' storage compiles: one vector of FO_HL float32 lanes from or to storage
 * (FO_VLOAD_AT / FO_VSTORE_AT in vec.h) ---- */
typedef float FO_ISA_NAME(f32v) __attribute__((vector_size(FO_VBYTES)));
#define FO_F32V FO_ISA_NAME(f32v)

FO_INLINE FO_F32V FO_ISA_NAME(bf16_vload)(const fo_bf16 *x)
{
    FO_F32V v;
    FO_ISA_NAME(bf16_load_v)((const uint16_t *)x, (float *)&v);
    return v;
}

FO_INLINE FO_F32V FO_ISA_NAME(bf16sr_vload)(const fo_bf16sr *x)
{
    return FO_ISA_NAME(bf16_vload)((const fo_bf16 *)x);
}

/* fo_bf16_rne on FO_HL lanes */
FO_INLINE void FO_ISA_NAME(bf16_vstore)(fo_bf16 *x, FO_F32V v)
{
    const FO_U32V u = (FO_U32V)v;
#if FO_F16C == 512   /* u + 0x7fff + odd, the odd bit as a lane mask */
    const __mmask16 odd = _mm512_test_epi32_mask((__m512i)u, _mm512_set1_epi32(0x10000));
    const __m512i b = _mm512_add_epi32((__m512i)u, _mm512_set1_epi32(0x7fff));
    FO_ISA_NAME(bf16_put_v)((uint16_t *)x, u,
                            (FO_U32V)_mm512_mask_add_epi32(b, odd, b, _mm512_set1_epi32(1)));
#else
    FO_ISA_NAME(bf16_put_v)((uint16_t *)x, u, u + 0x7fffu + ((u >> 16) & 1u));
#endif
}

/* fo_bf16_sr on FO_HL lanes, r: their 16 random bits each */
FO_INLINE void FO_ISA_NAME(bf16_sr_vstore)(uint16_t *x, FO_F32V v, FO_U32V r)
{
    const FO_U32V u = (FO_U32V)v;
    FO_ISA_NAME(bf16_put_v)(x, u, u + r);
}

FO_INLINE FO_F32V FO_ISA_NAME(f16_vload)(const fo_f16 *x)
{
#if FO_F16C == 512
    return (FO_F32V)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
#elif FO_F16C == 256
    return (FO_F32V)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
#else
    FO_F32V v;
    for (int k = 0; k < FO_HL; k++) v[k] = fo_f16_load(x[k].bits);
    return v;
#endif
}

FO_INLINE void FO_ISA_NAME(f16_vstore)(fo_f16 *x, FO_F32V v)
{
#if FO_F16C == 512
    _mm256_storeu_si256((__m256i *)x, _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT));
#elif FO_F16C == 256
    _mm_storeu_si128((__m128i *)x, _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT));
#else
    for (int k = 0; k < FO_HL; k++) x[k].bits = fo_f16_rne(v[k]);
#endif
}

#ifndef FO_LANE_NUMBERS
#define FO_LANE_NUMBERS
static const uint32_t fo_lane_numbers[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#endif

/* Stochastic rounding inside a kernel's loop: the state buffers' start addresses and the
 * pairs' keys of the call half.h is making on this thread (a store finds its buffer j by its
 * start). */
typedef struct {
    uintptr_t base[FO_MAX_STATE];
    uint32_t key[FO_MAX_STATE / 2];
    uint32_t first;   /* the element index (low 32 bits) of the call's element 0 */
    int second;       /* a buffer of the second pair is stochastically rounded */
} FO_ISA_NAME(sr_call);
static __thread FO_ISA_NAME(sr_call) FO_ISA_NAME(sr_now);

/* This thread's sr_now. Declared const (its value is the same through any one kernel call on
 * a thread), so the compiler finds the thread's copy once per loop, not once per store. */
__attribute__((const, noinline)) static FO_ISA_NAME(sr_call) *FO_ISA_NAME(sr_here)(void)
{
    return &FO_ISA_NAME(sr_now);
}

/* x[i : i + FO_HL] = sr(v) for state buffer j of the call, x its start. sr: the call's keys
 * as a local copy the block made (vec.h: FO_VSTORES), so that the compiler sees the first
 * pair's hash of the block's lanes is the same for both of its buffers, and computes it once
 * per block. */
FO_INLINE void FO_ISA_NAME(bf16sr_vstore_i)(fo_bf16sr *x, size_t i, FO_F32V v,
                                            const FO_ISA_NAME(sr_call) *sr)
{
    const uintptr_t at = (uintptr_t)x;
    const int j = at == sr->base[0] ? 0 : at == sr->base[1] ? 1 : at == sr->base[2] ? 2 : 3;
    const FO_U32V index = *(const FO_ISA_NAME(u32v_u) *)fo_lane_numbers + (sr->first + (uint32_t)i);
    FO_U32V h = FO_ISA_NAME(mix32_v)(index ^ sr->key[0]);
    if (sr->second && j >= 2) h = FO_ISA_NAME(mix32_v)(index ^ sr->key[1]);
    FO_ISA_NAME(bf16_sr_vstore)((uint16_t *)(x + i), v, (j & 1) ? h & 0xffffu : h >> 16);
}

FO_INLINE void FO_ISA_NAME(bf16_vstore_i)(fo_bf16 *x, size_t i, FO_F32V v,
                                          const FO_ISA_NAME(sr_call) *sr)
{
    (void)sr;
    FO_ISA_NAME(bf16_vstore)(x + i, v);
}

FO_INLINE void FO_ISA_NAME(f16_vstore_i)(fo_f16 *x, size_t i, FO_F32V v,
                                         const FO_ISA_NAME(sr_call) *sr)
{
    (void)sr;
    FO_ISA_NAME(f16_vstore)(x + i, v);
}
#endif

/* out[i] = float32(x[i]) (the vector functions above, then the element ones) */
static void FO_ISA_NAME(half_load)(int dtype, size_t n, const uint16_t *x, float *out)
{
    size_t i = 0;
#if FO_VBYTES
    if (dtype == FO_BF16)
        for (; i + FO_HL <= n; i += FO_HL) FO_ISA_NAME(bf16_load_v)(x + i, out + i);
    else
        for (; i + FO_HL <= n; i += FO_HL) {
            const FO_F32V v = FO_ISA_NAME(f16_vload)((const fo_f16 *)(x + i));
            memcpy(out + i, &v, sizeof v);
        }
#endif
    if (dtype == FO_BF16)
        for (; i < n; i++) out[i] = fo_bf16_load(x[i]);
    else
        for (; i < n; i++) out[i] = fo_f16_load(x[i]);
}

/* x[i] = rne(v[i]) in dtype */
static void FO_ISA_NAME(half_store)(int dtype, size_t n, const float *v, uint16_t *x)
{
    size_t i = 0;
#if FO_VBYTES
    for (; i + FO_HL <= n; i += FO_HL) {
        FO_F32V w;
        memcpy(&w, v + i, sizeof w);
        if (dtype == FO_BF16) FO_ISA_NAME(bf16_vstore)((fo_bf16 *)(x + i), w);
        else FO_ISA_NAME(f16_vstore)((fo_f16 *)(x + i), w);
    }
#endif
    if (dtype == FO_BF16)
        for (; i < n; i++) x[i] = fo_bf16_rne(v[i]);
    else
        for (; i < n; i++) x[i] = fo_f16_rne(v[i]);
}

/* x[i] = sr(v[i]) in bfloat16, for elements first, first + 1, ... of the param; the tile
 * [first, first + n) lies within one 2^32 block of the index */
static void FO_ISA_NAME(bf16_store_sr)(size_t n, const float *v, uint16_t *x, uint64_t seed,
                                       int64_t step, int j, uint64_t first)
{
    const uint32_t key = fo_sr_key(seed, step, j / 2, first);
    const uint32_t base = (uint32_t)first;
    size_t i = 0;
#if FO_VBYTES
    for (; i + FO_HL <= n; i += FO_HL) {
        FO_F32V w;
        memcpy(&w, v + i, sizeof w);
        const FO_U32V h = FO_ISA_NAME(mix32_v)(
            (*(const FO_ISA_NAME(u32v_u) *)fo_lane_numbers + (base + (uint32_t)i)) ^ key);
        FO_ISA_NAME(bf16_sr_vstore)(x + i, w, (j & 1) ? h & 0xffffu : h >> 16);
    }
#endif
    for (; i < n; i++)
        x[i] = fo_bf16_sr(v[i], fo_sr_bits(fo_mix32((base + (uint32_t)i) ^ key), j));
}

