"""tiered-api's CrossGuard policy pack: every row of the security checklist as a mandatory policy.

- ``policy.checklist``: ``CHECKLIST`` (row id -> its rules) and ``build_policies`` (the CrossGuard policies).
- ``policy.rules.*``: the rules, one module per checklist section.
- ``policy.suppressions``: the reviewed per-stack exceptions in ``policy/suppressions.yaml``.
- ``policy.adapter``: ``evaluate``, running the pack over a graph recorded under Pulumi mocks (tests, reviews).

``policy/__main__.py`` starts the analyzer server for the Pulumi CLI: never import it.
"""
