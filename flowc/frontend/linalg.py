"""Linear algebra: np.linalg.cholesky, solve, inv (LAPACK library nodes)."""

from __future__ import annotations
