"""The seeds' Artillery scenarios and ``make loadtest`` (``python -m loadtest.run``)."""

__all__ = ["run"]
