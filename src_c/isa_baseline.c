/*
 * isa_baseline.c - the kernels for every CPU of the architecture (x86-64: SSE2 only).
 * Built with the extension's flags alone. If those ever enable AVX, this path would crash on
 * the CPUs it exists for, so refuse to build.
 */
#if defined(__AVX__) && !defined(FASTOPT_ALLOW_AVX_BASELINE)
#error "isa_baseline.c is compiled with AVX enabled: remove -mavx*/-march from the build flags"
#endif
#define FO_ISA baseline
#include "isa_body.h"
