"""The NumPy frontend: Python ``ast`` → flowc IR.

``lower(func, arg_types=..., name=...)`` is what ``@flowc.program`` calls. The
supported Python and NumPy subset is listed in ``docs/numpy_subset.md``.
"""

from flowc.frontend.parser import lower

__all__ = ["lower"]
