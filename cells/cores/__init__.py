"""The cores, each registered under its name(s) in `cells.registry.CORE_CLASSES` by its module."""

from ..registry import CORE_CLASSES
from .classic import GRUCell, LSTMCell, RNNCell
from .orthogonal import ComplexCell, ENRNNCell, OrthogonalCell
from .oscillators import CoRNNCell, UnICORNNCell

__all__ = ["CORE_CLASSES", "RNNCell", "LSTMCell", "GRUCell", "OrthogonalCell", "ComplexCell", "ENRNNCell",
           "CoRNNCell", "UnICORNNCell"]
