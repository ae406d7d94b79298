/*
 * isa_baseline.c - the kernels for every CPU of the architecture (x86-64: SSE2 only).
 * Built with the extension's flags alone. If those ever enable AVX, this path would crash on
 * the CPUs it exists for, so refuse to build.
 */
#if defined(__AVX__) && !defined(FASTOPT_ALLOW_AVX_BASELINE)
#error "isa_baseline.c is compiled with AVX enabled: remove -mavx*/-march from the build flags"
#endif
#define FO_ISA baseline
#include "fastopt.h"
#if FO_X86 && (defined(__GNUC__) || defined(__clang__))
/* SSE2 is part of x86-64: 16-byte vectors, 12 per block over all streams (see vec.h) */
#include <emmintrin.h>
#define FO_VBYTES 16
#define FO_VTOTAL 12
#define FO_VSQRT_f32(v) _mm_sqrt_ps((__m128)(v))
#define FO_VSQRT_f64(v) _mm_sqrt_pd((__m128d)(v))
#else
#define FO_VBYTES 0
#endif
#include "isa_body.h"
