"""The cores, one registry entry each: name -> class (a `cells.cell.Cell` subclass)."""

from .classic import GRUCell, LSTMCell, RNNCell
from .orthogonal import ComplexCell, ENRNNCell, OrthogonalCell
from .oscillators import CoRNNCell, UnICORNNCell

CORE_CLASSES = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "orthogonal": OrthogonalCell,
    "unitary": ComplexCell,
    "urnn": ComplexCell,
    "enrnn": ENRNNCell,
    "cornn": CoRNNCell,
    "unicornn": UnICORNNCell,
}

__all__ = ["CORE_CLASSES", "RNNCell", "LSTMCell", "GRUCell", "OrthogonalCell", "ComplexCell", "ENRNNCell",
           "CoRNNCell", "UnICORNNCell"]
