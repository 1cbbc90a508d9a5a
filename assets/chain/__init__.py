"""Chain assets: blocks, transactions, logs, token transfers and contract creations by block range."""
