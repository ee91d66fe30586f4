"""The numeric core: activation kernels, their registry and parameter validation.

Pure NumPy (with ml_dtypes and SciPy): nothing here imports the web framework.
"""

from app.numerics.dtypes import DTYPES
from app.numerics.gradients import GradientResult, evaluate_gradient
from app.numerics.registry import REGISTRY, ActivationSpec, Result, evaluate

__all__ = ["DTYPES", "REGISTRY", "ActivationSpec", "GradientResult", "Result", "evaluate", "evaluate_gradient"]
