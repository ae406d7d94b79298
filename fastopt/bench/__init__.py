"""The benchmark report; run it with ``python -m fastopt.bench`` (see __main__.py)."""
