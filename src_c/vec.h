/*
 * vec.h - element and vector operations, and blocks of vectors for the kernels' main loops,
 * for one (ISA, dtype).
 *
 * Included by isa_body.h after FO_T, FO_DT and FO_ISA are set, once per dtype. The ISA file
 * sets FO_VBYTES (bytes per vector: 16 SSE2, 32 AVX2, 64 AVX-512; 0 = no vector loop, plain C
 * only), FO_VTOTAL (vectors in a block, over all its streams) and FO_VSQRT_f32 / FO_VSQRT_f64
 * (its square root intrinsics). Each kernel sets FO_STREAMS, the arrays its block loads (at
 * most), so it runs FO_VU = FO_VTOTAL / FO_STREAMS vectors per stream: a block's registers
 * (and spills) stay about the same whatever the kernel.
 *
 * Each kernel's main loop runs
 *
 *     for each block of FO_VBLOCK elements        FO_VLOAD_ALL per stream, the math on each
 *       (only if n >= FO_VBLOCK_MIN):             vector, FO_VREADY per stored array,
 *                                                 FO_VSTORES, FO_VSTORE_ALL per stored array
 *     for the remaining elements (all of them     the same math on FO_T, a plain loop the
 *       below FO_VBLOCK_MIN):                     compiler vectorizes
 *
 * with the math written once for any type V (FO_T or FO_V, see FO_MATH_FNS): GCC and Clang
 * vector types take +, -, *, / lane by lane with IEEE rounding, a scalar operand is broadcast,
 * and the vector square root is the ISA's correctly rounded one. With -ffp-contract=off each
 * lane is computed exactly as the scalar loop computes it: the paths stay bitwise equal.
 * Why blocks, with stores grouped after the math, and how their sizes were chosen: see
 * fastopt/bench/README.md ("Kernel loop shape").
 */

/* np.sqrt, np.abs (the sign bit cleared, a NaN's payload kept) and np.maximum (NaN if either
 * side is NaN, the first one if both) on an element */
FO_INLINE FO_T FO_NAME(sqrt_s)(FO_T x) { return FO_SQRT(x); }
FO_INLINE FO_T FO_NAME(abs_s)(FO_T x) { return FO_FABS(x); }
/* np.where(mask, a, b) on an element (mask: a comparison's result) */
FO_INLINE FO_T FO_NAME(select_s)(int mask, FO_T a, FO_T b) { return mask ? a : b; }
/* np.sign on an element: 1, -1, +0.0 for either zero, a NaN as it is */
FO_INLINE FO_T FO_NAME(sign_s)(FO_T x)
{
    return x > (FO_T)0 ? (FO_T)1 : x < (FO_T)0 ? (FO_T)-1 : x == x ? (FO_T)0 : x;
}
FO_INLINE FO_T FO_NAME(maximum_s)(FO_T a, FO_T b) { return (a != a || a > b) ? a : b; }

#if FO_VBYTES

/* FO_V: FO_VBYTES / sizeof(FO_T) lanes of FO_T; vec_u: an unaligned, aliasing view of it. */
typedef FO_T FO_NAME(vec) __attribute__((vector_size(FO_VBYTES)));
typedef FO_T FO_NAME(vec_u) __attribute__((vector_size(FO_VBYTES), aligned(sizeof(FO_T)),
                                            may_alias));
#define FO_V FO_NAME(vec)
#define FO_VLANES ((size_t)(FO_VBYTES / sizeof(FO_T)))
/* vectors per stream, and elements, per block */
#define FO_VU (FO_VTOTAL / FO_STREAMS)
#define FO_VBLOCK (FO_VU * FO_VLANES)
/* Blocks pay off when the streams come from memory, not when they sit in L1 (bench README): a
 * kernel runs blocks over [0, FO_VBLOCK_LIMIT(n)), that is not at all below 4096 elements. */
#define FO_VBLOCK_MIN 4096
#undef FO_VBLOCK_LIMIT
#undef FO_VLOAD_AT
#undef FO_VSTORE_AT
#undef FO_VSTORE_AT_I
#if FO_STORAGE
/* A storage compile (half.h) runs blocks only, over a multiple of FO_HALF_BLOCK elements,
 * which must be a multiple of every kernel's block (checked here, at compile time). */
#define FO_VBLOCK_LIMIT(n) ((void)sizeof(char[FO_HALF_BLOCK % FO_VBLOCK == 0 ? 1 : -1]), (n))
#else
#define FO_VBLOCK_LIMIT(n) ((n) >= FO_VBLOCK_MIN ? (n) : 0)
#endif

FO_INLINE FO_V FO_NAME(vload)(const FO_T *ptr) { return *(const FO_NAME(vec_u) *)ptr; }
FO_INLINE void FO_NAME(vstore)(FO_T *ptr, FO_V v) { *(FO_NAME(vec_u) *)ptr = v; }
/* A vector of the elements at ptr, and its store: in a storage compile (half.h) ptr may
 * point to bfloat16 / float16 storage, converted on the way (by ptr's type). */
#if FO_STORAGE
#define FO_VLOAD_AT(ptr)                                                                   \
    _Generic((ptr), FO_T *: FO_NAME(vload), const FO_T *: FO_NAME(vload),                 \
             fo_bf16 *: FO_ISA_NAME(bf16_vload), const fo_bf16 *: FO_ISA_NAME(bf16_vload), \
             fo_f16 *: FO_ISA_NAME(f16_vload), const fo_f16 *: FO_ISA_NAME(f16_vload),     \
             fo_bf16sr *: FO_ISA_NAME(bf16sr_vload))(ptr)
/* A storage compile stores by the array's start and the element's offset i from it (a
 * stochastically rounded store numbers its lanes from i; FO_VSTORES() made fo_sr_, the
 * call's keys: half_convert.h) */
FO_INLINE void FO_NAME(vstore_i)(FO_T *ptr, size_t i, FO_V v, const FO_ISA_NAME(sr_call) *sr)
{
    (void)sr;
    FO_NAME(vstore)(ptr + i, v);
}
#define FO_VSTORE_AT_I(ptr, i, v)                                                          \
    _Generic((ptr), FO_T *: FO_NAME(vstore_i), fo_bf16 *: FO_ISA_NAME(bf16_vstore_i),      \
             fo_f16 *: FO_ISA_NAME(f16_vstore_i),                                          \
             fo_bf16sr *: FO_ISA_NAME(bf16sr_vstore_i))(ptr, i, v, &fo_sr_)
#else
#define FO_VLOAD_AT(ptr) FO_NAME(vload)(ptr)
#define FO_VSTORE_AT(ptr, v) FO_NAME(vstore)(ptr, v)
#endif

/* np.sqrt, lane by lane (the ISA's correctly rounded square root) */
#define FO_VSQRT_(dt) FO_VSQRT_##dt
#define FO_VSQRT__(dt) FO_VSQRT_(dt)
FO_INLINE FO_V FO_NAME(sqrt_v)(FO_V v) { return (FO_V)FO_VSQRT__(FO_DT)(v); }
#define FO_VSQRT FO_NAME(sqrt_v)

/* np.maximum, lane by lane. A GCC vector compare gives -1 (all bits set) or 0 per lane, as a
 * signed integer vector of the lanes' width; vmask is that type (int32 lanes for float, int64
 * for double), and the select (a & mask) | (b & ~mask) works on the bits: each lane is a's or
 * b's exact bits, NaN payload and sign included, as maximum_s returns them. */
#define FO_VMASK_LANE_f32 int32_t
#define FO_VMASK_LANE_f64 int64_t
#define FO_VMASK_LANE_bf16 int32_t    /* (storage compiles: float32 math, half.h) */
#define FO_VMASK_LANE_f16 int32_t
#define FO_VMASK_LANE_bf16sr int32_t
#define FO_VMASK_LANE_(dt) FO_VMASK_LANE_##dt
#define FO_VMASK_LANE(dt) FO_VMASK_LANE_(dt)
typedef FO_VMASK_LANE(FO_DT) FO_NAME(vmask) __attribute__((vector_size(FO_VBYTES)));
FO_INLINE FO_V FO_NAME(maximum_v)(FO_V a, FO_V b)
{
    const FO_NAME(vmask) take_a = (FO_NAME(vmask))(a != a) | (FO_NAME(vmask))(a > b);
    const FO_NAME(vmask) ai = (FO_NAME(vmask))a, bi = (FO_NAME(vmask))b;
    return (FO_V)((ai & take_a) | (bi & ~take_a));
}

/* np.abs, lane by lane: each lane's sign bit cleared (x & ~(-0.0)), as abs_s does. */
FO_INLINE FO_V FO_NAME(abs_v)(FO_V v)
{
    const FO_V negative_zero = -(FO_V){0};   /* -0.0 in every lane: only the sign bit set */
    return (FO_V)((FO_NAME(vmask))v & ~(FO_NAME(vmask))negative_zero);
}

/* np.where(mask, a, b) lane by lane, on the bits (mask: a vector compare's result) */
FO_INLINE FO_V FO_NAME(select_v)(FO_NAME(vmask) mask, FO_V a, FO_V b)
{
    return (FO_V)((mask & (FO_NAME(vmask))a) | (~mask & (FO_NAME(vmask))b));
}

/* np.sign, lane by lane, as sign_s: the bits of 1 where v > 0, of -1 where v < 0, v's own
 * where it is NaN, and 0 (+0.0) elsewhere; a select on the bits, no arithmetic. */
FO_INLINE FO_V FO_NAME(sign_v)(FO_V v)
{
    const FO_V zero = (FO_V){0}, one = zero + (FO_T)1, minus_one = zero - (FO_T)1;
    const FO_NAME(vmask) pos = (FO_NAME(vmask))(v > zero), neg = (FO_NAME(vmask))(v < zero),
                         nan = (FO_NAME(vmask))(v != v);
    return (FO_V)((pos & (FO_NAME(vmask))one) | (neg & (FO_NAME(vmask))minus_one) |
                  (nan & (FO_NAME(vmask))v));
}

/* The stores of a block go out together, after all of its math: FO_VREADY(X) for every array
 * the block stores (X[k] is computed here), then FO_VSTORES() (a compiler barrier: no load or
 * store crosses it), then the FO_VSTORE_ALLs. Left alone, the compiler interleaves stores with
 * the math (and, with restrict pointers, may sink loads below stores). Neither emits an
 * instruction. */
#define FO_VREADY(X) FO_VEACH(k_) __asm__ __volatile__("" : "+v"(X[k_]))
#undef FO_VSTORES
#undef FO_VSTORE_ALL
#if FO_STORAGE
/* (a storage compile: also a local copy of this thread's stochastic rounding record, which
 * the block's stores read: half_convert.h) */
#define FO_VSTORES()                                                                       \
    __asm__ __volatile__("" ::: "memory");                                                 \
    const FO_ISA_NAME(sr_call) fo_sr_ = *FO_ISA_NAME(sr_here)()
#else
#define FO_VSTORES() __asm__ __volatile__("" ::: "memory")
#endif

/* for k in range(FO_VU), unrolled */
#define FO_VEACH(k) _Pragma("GCC unroll 16") for (int k = 0; k < FO_VU; k++)
/* X = [ptr[i + k * lanes : i + (k + 1) * lanes] for k in range(FO_VU)] */
#define FO_VLOAD_ALL(X, ptr, i) \
    FO_V X[FO_VU];              \
    FO_VEACH(k_) X[k_] = FO_VLOAD_AT((ptr) + (i) + (size_t)k_ * FO_VLANES)
/* ptr[i + k * lanes : ...] = X[k] for k in range(FO_VU) */
#if FO_STORAGE
#define FO_VSTORE_ALL(ptr, i, X) \
    FO_VEACH(k_) FO_VSTORE_AT_I(ptr, (i) + (size_t)k_ * FO_VLANES, X[k_])
#else
#define FO_VSTORE_ALL(ptr, i, X) \
    FO_VEACH(k_) FO_VSTORE_AT((ptr) + (i) + (size_t)k_ * FO_VLANES, X[k_])
#endif

#endif /* FO_VBYTES */

/* DEFINE(X, V) defines a kernel's math on one element or vector of type V, as the function
 * FO_NAME(<name>_math_##X); this defines it on elements (X = s, V = FO_T) and, where there are
 * vectors, on vectors (X = v, V = FO_V). */
#if FO_VBYTES
#define FO_MATH_FNS(DEFINE) DEFINE(s, FO_T) DEFINE(v, FO_V)
#else
#define FO_MATH_FNS(DEFINE) DEFINE(s, FO_T)
#endif

/* torch's lerp m.lerp_(g, w) on an element or vector, as its CPU kernel computes it: with
 * d = g - m, m + w * d while w < 0.5, else g + (w - 1) * d. coeff (w or w - 1) and high (the
 * second form) come from lerp_coeff, once per call. */
#define FO_LERP_FN(X, V)                                                              \
    FO_INLINE V FO_NAME(lerp_##X)(V m, V g, FO_T coeff, int high)                     \
    {                                                                                 \
        const V d = g - m;                                                            \
        return high ? g + coeff * d : m + coeff * d;                                  \
    }
FO_MATH_FNS(FO_LERP_FN)
#undef FO_LERP_FN

/* Adam's two moments, as Adam, AdamW, RAdam and NAdam update them (torch's order):
 * m = m.lerp(g, w);  v = v * beta2;  v = v + ((1 - beta2) * g) * g */
#define FO_MOMENTS_FN(X, V)                                                               \
    FO_INLINE void FO_NAME(moments_##X)(V g, V *m, V *v, FO_T coeff, int high, FO_T beta2, \
                                        FO_T one_minus_beta2)                             \
    {                                                                                     \
        *m = FO_NAME(lerp_##X)(*m, g, coeff, high);                                       \
        const V v_ = *v * beta2;                                                          \
        *v = v_ + (one_minus_beta2 * g) * g;                                              \
    }
FO_MATH_FNS(FO_MOMENTS_FN)
#undef FO_MOMENTS_FN

/* lerp's coeff for the weight w = 1 - beta (in double, rounded once to FO_T, as torch rounds
 * a Python float weight), and in *high which form lerp takes. */
FO_INLINE FO_T FO_NAME(lerp_coeff)(double beta, int *high)
{
    const FO_T w = (FO_T)(1.0 - beta);
    *high = !(w < (FO_T)0.5);
    return *high ? w - (FO_T)1 : w;
}
