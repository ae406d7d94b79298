"""The NumPy steps the dense benchmark races fastopt against, one pair per algorithm.

``<name>_textbook(p, g, state)``: the update as a NumPy user writes it from the paper or
torch's docs (temporaries allowed); ``<name>_inplace(p, g, state, tmp)``: the same tuned by
hand with ``out=`` and one scratch array, the fastest plain NumPy we know. Neither is
fastopt's reference (``fastopt.reference``, which follows the kernels' rounding order):
these are what a user would otherwise run.
"""
import numpy as np


def adagrad_textbook(p, g, st, lr=1e-2, eps=1e-10):
    s = st[0]
    s += g * g
    p -= lr * g / (np.sqrt(s) + eps)


def adagrad_inplace(p, g, st, tmp, lr=1e-2, eps=1e-10):
    s = st[0]
    np.multiply(g, g, out=tmp)
    s += tmp
    np.sqrt(s, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= lr
    p -= tmp


def adadelta_textbook(p, g, st, rho=0.9, eps=1e-6, lr=1.0):
    v, d = st
    v[...] = rho * v + (1 - rho) * g * g
    delta = np.sqrt(d + eps) / np.sqrt(v + eps) * g
    d[...] = rho * d + (1 - rho) * delta * delta
    p -= lr * delta


def adadelta_inplace(p, g, st, tmp, rho=0.9, eps=1e-6, lr=1.0):
    v, d = st
    v *= rho
    np.multiply(g, g, out=tmp)
    tmp *= 1 - rho
    v += tmp
    np.add(d, eps, out=tmp)
    np.sqrt(tmp, out=tmp)
    tmp *= g
    tmp /= np.sqrt(v + eps)        # one temporary left: NumPy has no fused sqrt-divide
    d *= rho
    d += (1 - rho) * tmp * tmp
    tmp *= lr
    p -= tmp


def adam_textbook(p, g, st, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, v = st[0], st[1]
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def adam_inplace(p, g, st, tmp, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, v = st[0], st[1]
    m *= b1
    np.multiply(g, 1 - b1, out=tmp)
    m += tmp
    v *= b2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp /= np.sqrt(1 - b2 ** t)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1 - b1 ** t)
    p -= tmp


def adamw_textbook(p, g, st, lr=1e-3, wd=1e-2, **kw):
    p *= 1 - lr * wd
    adam_textbook(p, g, st, lr=lr, **kw)


def adamw_inplace(p, g, st, tmp, lr=1e-3, wd=1e-2, **kw):
    p *= 1 - lr * wd
    adam_inplace(p, g, st, tmp, lr=lr, **kw)


def adamax_textbook(p, g, st, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, u = st
    m[...] = b1 * m + (1 - b1) * g
    u[...] = np.maximum(b2 * u, np.abs(g) + eps)
    p -= lr / (1 - b1 ** t) * m / u


def adamax_inplace(p, g, st, tmp, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, u = st
    m *= b1
    np.multiply(g, 1 - b1, out=tmp)
    m += tmp
    u *= b2
    np.abs(g, out=tmp)
    tmp += eps
    np.maximum(u, tmp, out=u)
    np.divide(m, u, out=tmp)
    tmp *= lr / (1 - b1 ** t)
    p -= tmp


def radam_scalars(b1, b2, t):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2 ** t / bc2
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return bc1, bc2, rect


def radam_textbook(p, g, st, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, t=6):
    m, v = st
    bc1, bc2, rect = radam_scalars(b1, b2, t)
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    p -= lr * rect * (m / bc1) * np.sqrt(bc2) / (np.sqrt(v) + eps)


def radam_inplace(p, g, st, tmp, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, t=6):
    m, v = st
    bc1, bc2, rect = radam_scalars(b1, b2, t)
    m *= b1
    np.multiply(g, 1 - b1, out=tmp)
    m += tmp
    v *= b2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr * rect * np.sqrt(bc2) / bc1
    p -= tmp


def rprop_textbook(p, g, st, etaminus=0.5, etaplus=1.2, lo=1e-6, hi=50.0):
    prev, s = st
    d = np.sign(g * prev)
    s[...] = np.clip(s * np.where(d > 0, etaplus, np.where(d < 0, etaminus, 1.0)), lo, hi)
    g = np.where(d < 0, 0, g)
    p -= np.sign(g) * s
    prev[...] = g


def rprop_inplace(p, g, st, tmp, etaminus=0.5, etaplus=1.2, lo=1e-6, hi=50.0):
    prev, s = st
    np.multiply(g, prev, out=tmp)
    flipped = tmp < 0                      # a boolean temporary: NumPy has no fused where
    s[tmp > 0] *= etaplus
    s[flipped] *= etaminus
    np.clip(s, lo, hi, out=s)
    np.copyto(prev, g)
    prev[flipped] = 0
    np.sign(prev, out=tmp)
    tmp *= s
    p -= tmp


def lion_textbook(p, g, st, lr=1e-4, b1=0.9, b2=0.99):
    m = st[0]
    p -= lr * np.sign(b1 * m + (1 - b1) * g)
    m[...] = b2 * m + (1 - b2) * g


def lion_inplace(p, g, st, tmp, lr=1e-4, b1=0.9, b2=0.99):
    m = st[0]
    np.multiply(m, b1, out=tmp)
    tmp += (1 - b1) * g            # one temporary left: NumPy has no fused scale-add
    np.sign(tmp, out=tmp)
    tmp *= lr
    p -= tmp
    m *= b2
    np.multiply(g, 1 - b2, out=tmp)
    m += tmp




def nadam_scalars(b1, b2, t, mp, md=4e-3):
    mu = b1 * (1 - 0.5 * 0.96 ** (t * md))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
    return 1 - b2 ** t, mu, mu_next, mp * mu


def nadam_textbook(p, g, st, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, v = st
    bc2, mu, mu_next, mp = nadam_scalars(b1, b2, t, 1.0)
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    d = np.sqrt(v / bc2) + eps
    p -= lr * ((1 - mu) / (1 - mp) * g + mu_next / (1 - mp * mu_next) * m) / d


def nadam_inplace(p, g, st, tmp, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, t=1):
    m, v = st
    bc2, mu, mu_next, mp = nadam_scalars(b1, b2, t, 1.0)
    m *= b1
    np.multiply(g, 1 - b1, out=tmp)
    m += tmp
    v *= b2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v += tmp
    np.divide(v, bc2, out=tmp)
    np.sqrt(tmp, out=tmp)
    tmp += eps
    np.reciprocal(tmp, out=tmp)
    # one temporary left: the two terms share the denominator
    tmp *= (lr * (1 - mu) / (1 - mp)) * g + (lr * mu_next / (1 - mp * mu_next)) * m
    p -= tmp


def asgd_textbook(p, g, st, lr=1e-2, lambd=1e-4):
    ax = st[0]
    p[...] = p * (1 - lambd * lr) - lr * g
    ax[...] = p


def asgd_inplace(p, g, st, tmp, lr=1e-2, lambd=1e-4):
    ax = st[0]
    p *= 1 - lambd * lr
    np.multiply(g, lr, out=tmp)
    p -= tmp
    ax[...] = p


def lamb_textbook(p, g, st, lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, t=1):
    m, v = st
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    u = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    pn, un = np.linalg.norm(p), np.linalg.norm(u)
    p -= lr * (pn / un if pn > 0 and un > 0 else 1.0) * u


def lamb_inplace(p, g, st, tmp, lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, t=1):
    m, v = st
    m *= b1
    np.multiply(g, 1 - b1, out=tmp)
    m += tmp
    v *= b2
    np.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v += tmp
    np.divide(v, 1 - b2 ** t, out=tmp)
    np.sqrt(tmp, out=tmp)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp /= 1 - b1 ** t
    pn, un = np.linalg.norm(p), np.linalg.norm(tmp)
    tmp *= lr * (pn / un if pn > 0 and un > 0 else 1.0)
    p -= tmp


def _adafactor_rms(x):
    return np.linalg.norm(x) / np.sqrt(x.size)


def adafactor_textbook(p, g, st, lr=1e-2, decay=-0.8, eps2=1e-3, d=1.0, t=1):
    """torch.optim.Adafactor's step: factored for a matrix (st: row_var, col_var), else
    st: variance."""
    eps1 = np.finfo(p.dtype).eps
    w = t ** decay
    alpha = max(eps2, _adafactor_rms(p)) * min(lr, 1 / np.sqrt(t))
    if p.ndim > 1:
        row, col = st
        row[...] = row + w * ((g * g).mean(axis=-1, keepdims=True) - row)
        col[...] = col + w * ((g * g).mean(axis=-2, keepdims=True) - col)
        v = row * col / np.maximum(row.mean(axis=-2, keepdims=True), eps1)
    else:
        v = st[0]
        v[...] = v + w * (g * g - v)
    u = g / np.sqrt(np.maximum(v, eps1 * eps1))
    p -= alpha / max(1.0, _adafactor_rms(u) / d) * u


def adafactor_inplace(p, g, st, tmp, lr=1e-2, decay=-0.8, eps2=1e-3, d=1.0, t=1):
    eps1 = np.finfo(p.dtype).eps
    w = t ** decay
    alpha = max(eps2, _adafactor_rms(p)) * min(lr, 1 / np.sqrt(t))
    np.multiply(g, g, out=tmp)
    if p.ndim > 1:
        row, col = st
        row *= 1 - w
        row += w * tmp.mean(axis=-1, keepdims=True)
        col *= 1 - w
        col += w * tmp.mean(axis=-2, keepdims=True)
        np.multiply(row, col, out=tmp)
        tmp /= max(float(row.mean()), eps1)
    else:
        v = st[0]
        v *= 1 - w
        tmp *= w
        v += tmp
        tmp[...] = v
    np.maximum(tmp, eps1 * eps1, out=tmp)
    np.sqrt(tmp, out=tmp)
    np.divide(g, tmp, out=tmp)
    tmp *= alpha / max(1.0, _adafactor_rms(tmp) / d)
    p -= tmp


def sgd_textbook(p, g, st, lr=1e-3, momentum=0.9):
    v = st[0]
    v[...] = momentum * v + g
    p -= lr * v


def sgd_inplace(p, g, st, tmp, lr=1e-3, momentum=0.9):
    v = st[0]
    v *= momentum
    v += g
    np.multiply(v, lr, out=tmp)
    p -= tmp


def rmsprop_textbook(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8):
    s = st[0]
    s[...] = alpha * s + (1 - alpha) * g * g
    p -= lr * g / (np.sqrt(s) + eps)


def rmsprop_inplace(p, g, st, tmp, lr=1e-2, alpha=0.99, eps=1e-8):
    s = st[0]
    s *= alpha
    np.multiply(g, g, out=tmp)
    tmp *= 1 - alpha
    s += tmp
    np.sqrt(s, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= lr
    p -= tmp
