/*
 * registry.h - fastopt's kernels, one line each. The only place that fixes the order of a
 * kernel's hyper-parameters.
 *
 *   X(name, "state buffers", hyper-parameter, hyper-parameter, ...)
 *
 * Each line gives kernel `name` (its loop is kernels/<name>.inc.c, included by isa_body.h)
 * a struct of named scalars, all double:
 *
 *   typedef struct { double lr, lr_decay, ...; } fo_<name>_hyper;
 *
 * which the kernel reads by field name, once per call, and which fastopt._kernels fills by
 * name from the hyper-parameter names this table exports (fo_kernel_info). Flags are 0 or 1.
 *
 * State buffers, comma-separated, in the kernel's order: "sum". A name "x?flag" is a buffer
 * the step needs only when hyper-parameter `flag` is non-zero (otherwise the kernel gets NULL
 * and never touches it); "x:row" (row kernels) holds one element per row of the param;
 * "x:scalar" (dense kernels) is one number per param, float32 or float64 whatever the param's
 * dtype, which the kernel's advance function moves on (fo_advance_fn in fastopt.h).
 *
 * Factored state (dense kernels; Adafactor): a param of two or more dimensions is `batches`
 * matrices of `rows` x `cols`, its last two dims, and must be C-contiguous. "x:row_factor" has
 * the param's shape with the last dim 1 (one element per row), "x:col_factor" with the
 * second-to-last dim 1 (one per column); both are C-contiguous and in use only for params of
 * two or more dimensions. "x:vector" is like the param and in use only for 0-D and 1-D params.
 * A kernel with such state names two hyper-parameters `rows` and `cols` last: the plan fills
 * them per param from its shape (front ends never give them; 0 for a vector).
 *
 * Dense kernels update every element of a param; row kernels update the rows of a 2-D param
 * that a row-sparse gradient touches (fo_row_set in fastopt.h).
 */
#ifndef FASTOPT_REGISTRY_H
#define FASTOPT_REGISTRY_H

#define FO_DENSE_KERNELS(X)                                                                   \
    X(adagrad, "sum", lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt)             \
    X(adadelta, "square_avg,acc_delta", lr, rho, eps, weight_decay, maximize)                 \
    X(adam, "exp_avg,exp_avg_sq,max_exp_avg_sq?amsgrad",                                      \
      lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled)                      \
    X(sgd, "momentum_buffer?momentum", lr, momentum, dampening, weight_decay, nesterov,       \
      maximize)                                                                               \
    X(rmsprop, "square_avg,grad_avg?centered,momentum_buffer?momentum",                       \
      lr, alpha, eps, weight_decay, momentum, centered, maximize, eps_inside_sqrt)             \
    X(adamax, "exp_avg,exp_inf", lr, beta1, beta2, eps, weight_decay, maximize)             \
    X(lion, "exp_avg", lr, beta1, beta2, weight_decay, maximize)                              \
    X(radam, "exp_avg,exp_avg_sq", lr, beta1, beta2, eps, weight_decay, decoupled, maximize) \
    X(rprop, "prev,step_size", etaminus, etaplus, step_size_min, step_size_max, maximize)   \
    X(nadam, "exp_avg,exp_avg_sq,mu_product:scalar", lr, beta1, beta2, eps, weight_decay,    \
      momentum_decay, decoupled, maximize)                                                    \
    X(asgd, "ax,mu:scalar,eta:scalar", lr, lambd, alpha, t0, weight_decay, maximize)       \
    X(lamb, "exp_avg,exp_avg_sq", lr, beta1, beta2, eps, weight_decay, maximize)             \
    X(adafactor, "row_var:row_factor,col_var:col_factor,variance:vector",                     \
      lr, beta2_decay, eps1, eps2, d, weight_decay, maximize, rows, cols)

/* The dense kernels with scalar state: each defines FO_NAME(<name>_advance) (fo_advance_fn). */
#define FO_ADVANCING_KERNELS(X) X(nadam) X(asgd)

/* The dense kernels that reduce over a whole param (norms): threads.c never cuts their params. */
#define FO_WHOLE_KERNELS(X) X(lamb) X(adafactor)

/* The other dense kernels (elementwise): also compiled on half-precision storage (isa_body.h;
 * each is in the first part of all.inc.c). One of the two lists holds every dense kernel
 * (dispatch.c checks the count). */
#define FO_ELEMENTWISE_KERNELS(X)                                                             \
    X(adagrad) X(adadelta) X(adam) X(sgd) X(rmsprop) X(adamax) X(lion) X(radam) X(rprop)     \
    X(nadam) X(asgd)

#define FO_ROW_KERNELS(X)                                                                     \
    X(adagrad_rows, "sum", lr, lr_decay, eps, maximize, eps_inside_sqrt)                      \
    X(sgd_rows, "", lr, maximize)                                                             \
    X(rowwise_adagrad, "sum:row", lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt) \
    X(sparse_adam, "exp_avg,exp_avg_sq", lr, beta1, beta2, eps, maximize)

#endif
