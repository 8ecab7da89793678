"""Tests of the `factorial-aws` command line."""
