// Hardhat Network as a second, independent node for the chain indexer's conformance tests
// (tests/conformance). Only `hardhat node` is used: nothing is compiled here (the tests deploy
// bytecode the project's Vyper compiler builds). Accounts come from Hardhat's default mnemonic.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      mining: { auto: true, interval: 0 },
      // A reverted transaction is mined with status 0 (as on a real chain) instead of also
      // answering eth_sendTransaction with an error: the tests index failed transactions too.
      throwOnTransactionFailures: false,
    },
  },
};
