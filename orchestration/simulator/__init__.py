"""Local stand-ins for an Ethereum node: the devnet chain, a replay of recorded blocks, a fault proxy.

They all speak plain HTTP JSON-RPC on 127.0.0.1 through one server (`rpc_server.JsonRpcServer`), so the
indexer talks to them exactly as it talks to a real node and never knows which one it has.

This is the devnet simulator, a development tool and not a Dagster resource: `sextant devnet`
(orchestration/cli_devnet.py) serves it, and tests and benches start it in-process.
"""
