/*
 * all.inc.c - every kernel's loop, for the (ISA, dtype) isa_body.h is compiling: one
 * #include per kernel of registry.h (the include list; the registry itself is a table).
 */
/* the elementwise dense kernels (also compiled on half-precision storage: isa_body.h) */
#include "adagrad.inc.c"
#include "adadelta.inc.c"
#include "adam.inc.c"
#include "sgd.inc.c"
#include "rmsprop.inc.c"
#include "adamax.inc.c"
#include "lion.inc.c"
#include "radam.inc.c"
#include "rprop.inc.c"
#include "nadam.inc.c"
#include "asgd.inc.c"
#if !FO_STORAGE
/* the kernels that reduce over a whole param, the row kernels, the probe */
#include "rows.inc.c"
#include "lamb.inc.c"
#include "adafactor.inc.c"
#include "adagrad_rows.inc.c"
#include "sgd_rows.inc.c"
#include "rowwise_adagrad.inc.c"
#include "sparse_adam.inc.c"
#include "stream_probe.inc.c"
#endif
