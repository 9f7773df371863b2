"""Demo data: ``seed(url, scale=..., seed=..., days=..., mode=...)`` loads a realistic, reproducible app
history (see docs/seed.md).  ``Dataset`` is the generator, usable without a database."""

from .generate import Dataset
from .load import DatabaseNotEmpty, seed
from .scales import SCALES, Scale, get_scale

__all__ = ["SCALES", "DatabaseNotEmpty", "Dataset", "Scale", "get_scale", "seed"]
