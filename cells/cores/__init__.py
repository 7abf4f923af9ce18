"""The cores, one registry entry each: name -> class (a `cells.cell.Cell` subclass)."""

from .classic import GRUCell, LSTMCell, RNNCell

CORE_CLASSES = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
}

__all__ = ["CORE_CLASSES", "RNNCell", "LSTMCell", "GRUCell"]
