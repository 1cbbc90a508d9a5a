"""Chain domain logic: decoding node answers into ethereum-etl-shaped tables, block ranges, reorg checks."""
