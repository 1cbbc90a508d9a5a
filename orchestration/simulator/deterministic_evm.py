"""py-evm through eth-tester, made deterministic: the same scenario yields the same block hashes.

Block timestamps come from the chain's clock (a fixed step from a fixed genesis time; the wall
clock under ``--live``), and ``mixHash`` from a counter of blocks ever mined. Re-mining a height after
``evm_revert`` (a simulated reorg) therefore yields a different hash even for an empty block,
because the counter is never reverted. Every block pays its fees to ``BLOCK_BUILDER``.
"""

from __future__ import annotations

from typing import Any

#: The fee recipient of every devnet block (a fixed, keyless address).
BLOCK_BUILDER = "0x" + "b1d0" * 10


def _make_backend(pyevm_backend_class, params, state, chain_id, next_timestamp, salt):
    """A PyEVMBackend whose blocks are deterministic: our clock, our mixHash, our chain id."""
    from eth.vm.forks import PragueVM
    from eth_hash.auto import keccak
    from eth_tester.backends.pyevm.main import get_total_blob_gas

    builder = bytes.fromhex(BLOCK_BUILDER[2:])

    class DeterministicBackend(pyevm_backend_class):
        blocks_ever_mined = 0  # never reverted: a height re-mined after evm_revert gets a new mixHash
        _keys_by_address: dict[bytes, Any] | None = None

        @property
        def _key_lookup(self):
            # eth-tester rebuilds this map (a keccak per account) on every send; the keys only grow.
            if self._keys_by_address is None or len(self._keys_by_address) != len(self.account_keys):
                self._keys_by_address = {k.public_key.to_canonical_address(): k for k in self.account_keys}
            return self._keys_by_address

        def mine_blocks(self, num_blocks=1, coinbase=None):
            coinbase = builder  # every block, also those eth-tester's automine makes
            hashes = []
            for _ in range(num_blocks):
                self.blocks_ever_mined += 1
                mix_hash = keccak(salt + self.blocks_ever_mined.to_bytes(8, "big"))
                kwargs = {"coinbase": coinbase, "mix_hash": mix_hash}
                if isinstance(self.chain.get_vm(), PragueVM):
                    kwargs["blob_gas_used"] = sum(get_total_blob_gas(tx) for tx in self.chain.get_block().transactions)
                hashes.append(self.chain.mine_block(**kwargs).hash)
            return tuple(hashes)

    backend = DeterministicBackend(genesis_parameters=params, genesis_state=state)
    base = type(backend.chain)

    class DevnetChain(base):
        def create_header_from_parent(self, parent_header, **header_params):
            header_params.setdefault("timestamp", next_timestamp(parent_header.timestamp))
            # The pending block's fees must go to the coinbase its header will name: a header whose
            # coinbase changed at mining time has a state root re-execution cannot reproduce, and
            # evm_revert (which re-imports the snapshot's head block) then fails.
            header_params.setdefault("coinbase", builder)
            return super().create_header_from_parent(parent_header, **header_params)

    DevnetChain.chain_id = chain_id
    backend.chain.__class__ = DevnetChain
    backend.chain.header = backend.chain.create_header_from_parent(backend.chain.get_canonical_head())
    return backend
