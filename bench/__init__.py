"""``make bench``: tiered-api measured side by side with the seed programs it replaces, on this machine.

Public API (for ``make bench`` and the tests):

- ``bench.stats``: ``Summary``, ``summarize``, ``paired_ratios``.
- ``bench.report``: the result model (``Report``, ``Section``, ``Table``, ``Target``) and ``render_markdown``.
- ``bench.machine``: ``Machine``, ``describe_machine``.
- ``bench.__main__``: runs every benchmark and rewrites ``docs/benchmarks.md``.

Nothing is imported here: a cold-start child process imports ``bench.reference.sample_handler`` and must pay for
that module alone.
"""
