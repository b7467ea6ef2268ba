"""Methods and architectures: importing this package registers every built-in one."""

from ganbench.models import dcgan, dirac, mlp, objectives, pacgan, pacgan_mnist  # noqa: F401  (register architectures and methods)
from ganbench.models.base import ARCHITECTURES, METHODS, Hyperparameters, Method, NetworkSize

__all__ = ["ARCHITECTURES", "METHODS", "Hyperparameters", "Method", "NetworkSize"]
