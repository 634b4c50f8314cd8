"""Per-frame stylizers behind one interface; see :mod:`frameloom.stylize.base`."""
from .base import Stylizer, check_not_cancelled
from .registry import available_styles, make_stylizer

__all__ = ["Stylizer", "available_styles", "check_not_cancelled", "make_stylizer"]
