/*
 * fastopt's algorithms: FO_ALGORITHM(name, state buffers, hyper-parameters, "state names").
 * Adding an algorithm: write kernels/<name>.inc.c, then add its line here and its #include
 * in the FO_KERNEL_BODIES part below.
 */
#if defined(FO_KERNEL_BODIES)
#include "adagrad.inc.c"
#else
FO_ALGORITHM(adagrad, 1, 6, "sum")
#endif
