"""Row-sparse steps in NumPy, in the row kernels' order (src_c/kernels/*rows*.inc.c,
rowwise_adagrad.inc.c, sparse_adam.inc.c).

A row-sparse gradient (``fastopt.SparseRows``: ``indices`` (k,), ``values`` (k, dim)) is
folded the ``np.unique`` + ``np.add.at`` way (:func:`coalesce`): each distinct row's
gradient is ``0 + v_first + v_second + ...`` in order of appearance, exactly what the C
fold computes without sorting. The step then runs on the gathered rows only and scatters
them back, so a row the batch does not touch is never read or written.
"""
import math

import numpy as np

from fastopt.reference._util import per_param, scalars_converted
from fastopt.reference.adagrad import adagrad

__all__ = ["adagrad_rows", "coalesce", "rowwise_adagrad", "sgd_rows", "sparse_adam"]


def coalesce(grad):
    """``(rows, G)``: the distinct rows of a SparseRows (sorted) and their summed gradients.

    ``G[j] = 0 + (sum of grad.values[i] for each i with grad.indices[i] == rows[j])``, summed
    in order of appearance by ``np.add.at`` in the values' dtype.
    """
    rows, inverse = np.unique(grad.indices, return_inverse=True)
    G = np.zeros((rows.size, grad.values.shape[1]), grad.values.dtype)
    np.add.at(G, inverse.reshape(-1), grad.values)
    return rows, G


@scalars_converted
def adagrad_rows(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """Adagrad on the touched rows only (torch.optim.Adagrad's sparse path).

    Each touched row gets :func:`fastopt.reference.adagrad` on its folded gradient; the other
    rows are left alone. ``weight_decay`` must be 0, as in torch.
    """
    if weight_decay != 0:
        raise ValueError("weight_decay must be 0 with sparse gradients")
    for p, g, s, step in zip(params, grads, sums, per_param(steps, len(params))):
        rows, G = coalesce(g)
        if rows.size == 0 or p.shape[1] == 0:
            continue
        sub_p, sub_s = p[rows], s[rows]
        adagrad([sub_p], [G], [sub_s], step, lr=lr, lr_decay=lr_decay, eps=eps,
                eps_inside_sqrt=eps_inside_sqrt, maximize=maximize)
        p[rows], s[rows] = sub_p, sub_s


@scalars_converted
def sgd_rows(params, grads, *, lr=1e-3, maximize=False):
    """Plain SGD on the touched rows: each gets :class:`fastopt.SGD`'s update with
    ``momentum=0`` and ``weight_decay=0`` (fastopt.optim.sgd.MATH) on its folded gradient."""
    for p, g in zip(params, grads):
        rows, G = coalesce(g)
        if rows.size == 0:
            continue
        t = p.dtype.type
        if maximize:
            G = -G
        p[rows] = p[rows] - t(lr) * G


def _lane_sum(sq):
    """Row sums of sq (m, dim) in the kernel's order: 8 lanes, then a halving tree."""
    m, dim = sq.shape
    blocks = -(-dim // 8)
    padded = np.zeros((m, blocks * 8), sq.dtype)
    padded[:, :dim] = sq
    acc = np.zeros((m, 8), sq.dtype)
    for b in range(blocks):
        acc += padded[:, 8 * b: 8 * b + 8]
    return (((acc[:, 0] + acc[:, 4]) + (acc[:, 2] + acc[:, 6]))
            + ((acc[:, 1] + acc[:, 5]) + (acc[:, 3] + acc[:, 7])))


@scalars_converted
def rowwise_adagrad(params, grads, sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                    eps=1e-10, eps_inside_sqrt=False, maximize=False):
    """Row-wise Adagrad: one accumulator per row (``sums[i]`` has shape ``(rows,)``).

    For a dense gradient every row steps (a param of any shape ``(rows, ...)``); for a
    SparseRows only the touched rows (``weight_decay`` must then be 0). The update is
    :class:`fastopt.RowwiseAdagrad`'s (fastopt.optim.rowwise_adagrad.MATH), in the same
    order: ``clr`` is computed in Python floats (double) and rounded once to the param's
    dtype; ``mean`` is :func:`_lane_sum` (the kernel's lanes and tree) divided by ``dim``; a
    dense gradient is read as ``0 + g`` explicitly, a SparseRows one is by :func:`coalesce`.
    """
    for p, g, s, step in zip(params, grads, sums, per_param(steps, len(params))):
        t = p.dtype.type
        n_rows = p.shape[0]
        dim = p.size // n_rows if n_rows else 0
        if dim == 0:
            continue
        P = p.reshape(n_rows, dim)
        if isinstance(g, np.ndarray):
            rows = np.arange(n_rows)
            G = t(0) + g.reshape(n_rows, dim)
        else:
            if weight_decay != 0:
                raise ValueError("weight_decay must be 0 with sparse gradients")
            rows, G = coalesce(g)
            if rows.size == 0:
                continue
        clr = t(lr / (1.0 + (step - 1) * lr_decay))
        sub = P[rows]
        if maximize:
            G = -G
        if weight_decay != 0:
            G = G + t(weight_decay) * sub
        si = s[rows] + _lane_sum(G * G) / t(dim)
        s[rows] = si
        den = np.sqrt(si + t(eps)) if eps_inside_sqrt else np.sqrt(si) + t(eps)
        P[rows] = sub - clr * G / den[:, None]


@scalars_converted
def sparse_adam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr=1e-3, betas=(0.9, 0.999),
                eps=1e-8, maximize=False):
    """Lazy Adam (torch.optim.SparseAdam): moments and param change on touched rows only.

    The update is :class:`fastopt.SparseAdam`'s (fastopt.optim.sparse_adam.MATH), in the same
    order: ``step_size``, ``1 - beta1`` and ``1 - beta2`` are computed in Python floats
    (double) and rounded once to the param's dtype; the folded gradient (:func:`coalesce`)
    is already ``0 + g``.
    """
    beta1, beta2 = betas
    for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs,
                                per_param(steps, len(params))):
        rows, G = coalesce(g)
        if rows.size == 0 or p.shape[1] == 0:
            continue
        t = p.dtype.type
        step_size = t(lr * math.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step))
        if maximize:
            G = -G
        mr, vr = m[rows], v[rows]
        mr = mr + (G - mr) * t(1.0 - beta1)
        vr = vr + (G * G - vr) * t(1.0 - beta2)
        m[rows], v[rows] = mr, vr
        p[rows] = p[rows] - step_size * (mr / (np.sqrt(vr) + t(eps)))
