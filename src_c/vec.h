/*
 * vec.h - blocks of vectors for the kernels' main loops, for one (ISA, dtype).
 *
 * Included by isa_body.h after FO_T, FO_DT and FO_ISA are set, once per dtype. The ISA file
 * sets FO_VBYTES (bytes per vector: 16 SSE2, 32 AVX2, 64 AVX-512; 0 = no vector loop, plain C
 * only), FO_VTOTAL (vectors in a block, over all its streams) and FO_VSQRT_f32 / FO_VSQRT_f64
 * (its square root intrinsics). Each kernel sets FO_STREAMS, the arrays its block loads (at
 * most), so its FO_VU = FO_VTOTAL / FO_STREAMS vectors per stream: a block's registers (and
 * spills) stay about the same whatever the kernel. On AVX2, Adagrad (3 streams) runs 6 vectors
 * per stream; Adadelta float64 (4 streams) took 54 ms at 2^24 with 6, 46 ms with 4 (its
 * FO_VU now) and 41 ms with 3.
 *
 * Why blocks. A kernel's main loop, written element by element, is vectorized by the compiler
 * as "load p, g, s; compute; store p, s" one vector at a time. Measured on this project's AMD
 * EPYC VM at 2^24 float32 elements (Adagrad), that loop takes ~7 ms on some layouts of the
 * three arrays in memory and 10-13 ms (up to 21 ms) on others, while a read-only pass over the
 * same arrays does not move. Computing a block of FO_VU vectors of every stream and then
 * storing the block's results together, stream after stream, took ~7 ms and 8-11.5 ms on the
 * same layouts. (Forcing all of a block's loads before its math, without grouping the
 * stores, helped less: 7-12.4 ms.) Each kernel therefore runs:
 *
 *     for each block of FO_VBLOCK elements        FO_VLOAD_ALL per stream, FO_VEACH math,
 *       (only if n >= FO_VBLOCK_MIN):             FO_VREADY per stored array, FO_VSTORES,
 *                                                 FO_VSTORE_ALL per stored array
 *     for the remaining elements (all of them     the same math on FO_T, a plain loop the
 *       below FO_VBLOCK_MIN):                     compiler vectorizes as before
 *
 * with one math macro per kernel, written once for any type V (FO_T or FO_V): GCC and Clang
 * vector types take +, -, *, / lane by lane with IEEE rounding, a scalar operand is broadcast,
 * and FO_VSQRT is the correctly rounded vector square root. With -ffp-contract=off each lane
 * is computed exactly as the scalar loop computes it: the paths stay bitwise equal.
 */
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
/* Blocks pay off when the streams come from memory; when they sit in L1 (a call on ~1e3
 * elements) the compiler's own vectorized loop is ~10% faster. A kernel runs blocks over
 * [0, FO_VBLOCK_LIMIT(n)), that is not at all below 4096 elements. */
#define FO_VBLOCK_MIN 4096
#define FO_VBLOCK_LIMIT(n) ((n) >= FO_VBLOCK_MIN ? (n) : 0)

FO_INLINE FO_V FO_NAME(vload)(const FO_T *ptr) { return *(const FO_NAME(vec_u) *)ptr; }
FO_INLINE void FO_NAME(vstore)(FO_T *ptr, FO_V v) { *(FO_NAME(vec_u) *)ptr = v; }

/* np.sqrt, lane by lane (the ISA's correctly rounded square root) */
#define FO_VSQRT_(dt) FO_VSQRT_##dt
#define FO_VSQRT__(dt) FO_VSQRT_(dt)
FO_INLINE FO_V FO_NAME(vsqrt)(FO_V v) { return (FO_V)FO_VSQRT__(FO_DT)(v); }
#define FO_VSQRT FO_NAME(vsqrt)

/* The stores of a block go out together, after all of its math: FO_VREADY(X) for every array
 * the block stores (X[k] is computed here), then FO_VSTORES() (a compiler barrier: no load or
 * store crosses it), then the FO_VSTORE_ALLs. Left alone, the compiler interleaves stores with
 * the math (and, with restrict pointers, may sink loads below stores). Neither emits an
 * instruction. */
#define FO_VREADY(X) FO_VEACH(k_) __asm__ __volatile__("" : "+v"(X[k_]))
#define FO_VSTORES() __asm__ __volatile__("" ::: "memory")

/* for k in range(FO_VU), unrolled */
#define FO_VEACH(k) _Pragma("GCC unroll 16") for (int k = 0; k < FO_VU; k++)
/* X = [ptr[i + k * lanes : i + (k + 1) * lanes] for k in range(FO_VU)] */
#define FO_VLOAD_ALL(X, ptr, i) \
    FO_V X[FO_VU];              \
    FO_VEACH(k_) X[k_] = FO_NAME(vload)((ptr) + (i) + (size_t)k_ * FO_VLANES)
/* ptr[i + k * lanes : ...] = X[k] for k in range(FO_VU) */
#define FO_VSTORE_ALL(ptr, i, X) \
    FO_VEACH(k_) FO_NAME(vstore)((ptr) + (i) + (size_t)k_ * FO_VLANES, X[k_])

#endif /* FO_VBYTES */
