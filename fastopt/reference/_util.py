"""Small helpers shared by the reference implementations."""


def per_param(value, k):
    """A per-parameter list from one value for all or a list of k values."""
    if isinstance(value, list):
        return value
    return [value] * k
