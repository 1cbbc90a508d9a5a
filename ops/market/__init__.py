"""Market-data domain logic: parsing, cleaning, synthetic generation, features and summaries.

Pure functions over polars frames. No Dagster, no I/O beyond reading a file a caller names.
"""
