"""``python -m local --stack dev --port 3000``: see ``local.server``."""

# Function workers are spawned: each re-imports this module as ``__mp_main__``, which must cost nothing.
if __name__ == "__main__":
    import sys

    from local.server import main

    sys.exit(main())
