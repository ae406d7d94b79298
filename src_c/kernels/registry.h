/*
 * fastopt's algorithms: FO_ALGORITHM(name, state buffers, hyper-parameters, "state names").
 * A state name "momentum_buffer?4" marks a buffer the step needs only when hyper[4] != 0:
 * fastopt._kernels then requires it only in that case and passes NULL otherwise, so the
 * kernel must read it only under that same condition.
 * Adding an algorithm: write kernels/<name>.inc.c, then add its line here and its #include
 * in the FO_KERNEL_BODIES part below.
 */
#if defined(FO_KERNEL_BODIES)
#include "adagrad.inc.c"
#include "adadelta.inc.c"
#include "adam.inc.c"
#include "sgd.inc.c"
#include "rmsprop.inc.c"
#else
FO_ALGORITHM(adagrad, 1, 6, "sum")
FO_ALGORITHM(adadelta, 2, 5, "square_avg,acc_delta")
FO_ALGORITHM(adam, 3, 8, "exp_avg,exp_avg_sq,max_exp_avg_sq?5")
FO_ALGORITHM(sgd, 1, 6, "momentum_buffer?1")
FO_ALGORITHM(rmsprop, 3, 8, "square_avg,grad_avg?5,momentum_buffer?4")
#endif
