"""One module per section of SECURITY_CHECKLIST.md; each exposes ``RULES`` in the checklist's order."""
