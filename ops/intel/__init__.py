"""Chain intelligence: contract analysis, DEX swap decoding, MEV detectors and wallet clustering.

Pure functions over bytes, dicts and polars frames; the node (storage reads, calls) is passed in as
plain callables, so the same code runs in assets, the CLI, the API and tests.
"""
