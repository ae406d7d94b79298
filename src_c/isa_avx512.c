/*
 * isa_avx512.c - the kernels for x86-64 CPUs with AVX-512 F/VL/BW/DQ (and an OS that saves
 * ZMM state), using 512-bit vectors. Like isa_avx2.c, the target is set per function here.
 */
#include <math.h>
#include "fastopt.h"
#if FO_X86 && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512")
#endif
#define FO_ISA avx512
/* 64-byte vectors, 9 per block over all streams (see vec.h) */
#include <immintrin.h>
#define FO_VBYTES 64
#define FO_VTOTAL 9
#define FO_F16C 512
#define FO_VTOTAL_STORAGE 4   /* the storage compiles' block (conversions need registers) */
#define FO_VSQRT_f32(v) _mm512_sqrt_ps((__m512)(v))
#define FO_VSQRT_f64(v) _mm512_sqrt_pd((__m512d)(v))
#include "isa_body.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
