"""A handler module whose init fails, as a bad deployment's would."""

raise ImportError("missing dependency")
