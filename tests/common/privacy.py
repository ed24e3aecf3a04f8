"""Search stored or transmitted bytes for planted identifiers (see :mod:`medcoop.sim.privacy`)."""

from medcoop.sim.privacy import leaked_values

__all__ = ["leaked_values"]
