"""Demo data: ``seed(url, scale=..., seed=..., days=..., mode=...)`` loads a realistic, reproducible app
history (see docs/seed.md).  ``Dataset`` is the generator, usable without a database."""

from importlib import import_module

from .scales import SCALES, Scale, get_scale

__all__ = ["SCALES", "DatabaseNotEmpty", "Dataset", "Scale", "get_scale", "seed"]

# The generator and the loader need numpy: imported on first use, so that the scale names (which the
# command line offers on every run) come without them.
_LAZY = {"Dataset": ".generate", "DatabaseNotEmpty": ".load", "seed": ".load"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
