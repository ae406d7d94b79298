/*
 * fastopt's algorithms: FO_ALGORITHM(name, state buffers, hyper-parameters, "state names").
 * A state name "momentum_buffer?4" marks a buffer the step needs only when hyper[4] != 0:
 * fastopt._kernels then requires it only in that case and passes NULL otherwise, so the
 * kernel must read it only under that same condition.
 * Adding an algorithm: write kernels/<name>.inc.c, then add its line here and its #include
 * in the FO_KERNEL_BODIES part below.
 *
 * Row kernels (row-sparse gradients of 2-D params, see fo_row_set in fastopt.h) have their
 * own table: FO_ROW_ALGORITHM(name, state buffers, hyper-parameters, "state names"). A state
 * name "sum:row" is one element per row (shape (n_rows,)) instead of one per element. An
 * optimizer object opts in to SparseRows gradients by naming its row kernel (_row_kernel).
 */
#if defined(FO_KERNEL_BODIES)
#include "adagrad.inc.c"
#include "adadelta.inc.c"
#include "adam.inc.c"
#include "sgd.inc.c"
#include "rmsprop.inc.c"
#include "rows.inc.c"
#include "adagrad_rows.inc.c"
#include "sgd_rows.inc.c"
#include "rowwise_adagrad.inc.c"
#include "sparse_adam.inc.c"
#elif defined(FO_ROW_ALGORITHM)
FO_ROW_ALGORITHM(adagrad_rows, 1, 6, "sum")
FO_ROW_ALGORITHM(sgd_rows, 0, 2, "")
FO_ROW_ALGORITHM(rowwise_adagrad, 1, 6, "sum:row")
FO_ROW_ALGORITHM(sparse_adam, 2, 5, "exp_avg,exp_avg_sq")
#else
FO_ALGORITHM(adagrad, 1, 6, "sum")
FO_ALGORITHM(adadelta, 2, 5, "square_avg,acc_delta")
FO_ALGORITHM(adam, 3, 8, "exp_avg,exp_avg_sq,max_exp_avg_sq?5")
FO_ALGORITHM(sgd, 1, 6, "momentum_buffer?1")
FO_ALGORITHM(rmsprop, 3, 8, "square_avg,grad_avg?5,momentum_buffer?4")
#endif
