"""Docstring fragments shared by the optimizer classes (as torch.optim shares _params_doc)."""

params_doc = """Args:
        params: a list of NumPy arrays (float32 or float64, writeable, any dense layout), or a
            list of dicts ``{"params": [...], <hyper-parameter>: value}`` for param groups
            with their own hyper-parameters, as in torch.optim. Every optimizer also takes
            float16 and ``ml_dtypes.bfloat16`` params (and SparseRows values), and the
            keyword arguments
            ``master_weights``, ``state_dtype`` (ml_dtypes.bfloat16) and ``seed`` for
            half-precision storage (fastopt.optim._half; README "Half precision")."""

step_doc = """``opt.step(grads)`` takes one gradient per param, in order (``None`` skips a param),
    and updates params and state in place. Everything is validated before anything is written:
    a wrong dtype, shape, layout, read-only or overlapping buffer raises ``TypeError`` or
    ``ValueError`` naming the param, and leaves params and state as they were."""
