"""``python -m factorial_aws``: the ``factorial-aws`` command line."""

from factorial_aws.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
