/*
 * isa_avx2.c - the kernels for x86-64 CPUs with AVX2 and F16C (and an OS that saves YMM
 * state).
 * The target is set here, per function, never for the whole extension: only code reached
 * after dispatch.c has checked the CPU runs these instructions.
 */
#include <math.h>
#include "fastopt.h"
#if FO_X86 && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,f16c")
#endif
#define FO_ISA avx2
/* 32-byte vectors, 18 per block over all streams (see vec.h) */
#include <immintrin.h>
#define FO_VBYTES 32
#define FO_VTOTAL 18
#define FO_F16C 256
#define FO_VTOTAL_STORAGE 8   /* the storage compiles' block (conversions need registers) */
#define FO_VSQRT_f32(v) _mm256_sqrt_ps((__m256)(v))
#define FO_VSQRT_f64(v) _mm256_sqrt_pd((__m256d)(v))
#include "isa_body.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
