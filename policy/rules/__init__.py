"""One module per section of the security checklist; each exposes ``RULES`` in the checklist's order."""
