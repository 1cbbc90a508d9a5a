# pragma version ~=0.4.3
"""
@title Arbitrage bot
@notice Swaps a cycle of pairs (A->B->A or A->B->C->A) in one transaction from its own balance and
        reverts unless it ends with more of the start token than it began with, plus `minProfit`.
"""

from ethereum.ercs import IERC20

interface IPair:
    def token0() -> address: view
    def getReserves() -> (uint112, uint112, uint32): view
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]): nonpayable

owner: public(address)


@deploy
def __init__():
    self.owner = msg.sender


@pure
@internal
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    with_fee: uint256 = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


@external
def execute(pairs: DynArray[address, 3], path: DynArray[address, 4], amountIn: uint256, minProfit: uint256) -> uint256:
    assert msg.sender == self.owner, "only the owner"
    assert len(path) == len(pairs) + 1, "path and pairs disagree"
    assert path[0] == path[len(path) - 1], "not a cycle"
    start: uint256 = staticcall IERC20(path[0]).balanceOf(self)
    assert extcall IERC20(path[0]).transfer(pairs[0], amountIn)
    amount: uint256 = amountIn
    for i: uint256 in range(len(pairs), bound=3):
        pair: address = pairs[i]
        r0: uint112 = 0
        r1: uint112 = 0
        ts: uint32 = 0
        r0, r1, ts = staticcall IPair(pair).getReserves()
        receiver: address = self
        if i + 1 < len(pairs):
            receiver = pairs[i + 1]
        if path[i] == staticcall IPair(pair).token0():
            amount = self._amount_out(amount, convert(r0, uint256), convert(r1, uint256))
            extcall IPair(pair).swap(0, amount, receiver, b"")
        else:
            amount = self._amount_out(amount, convert(r1, uint256), convert(r0, uint256))
            extcall IPair(pair).swap(amount, 0, receiver, b"")
    finish: uint256 = staticcall IERC20(path[0]).balanceOf(self)
    assert finish >= start + minProfit, "no profit"
    return finish - start


@external
def withdraw(token: address, amount: uint256):
    assert msg.sender == self.owner, "only the owner"
    assert extcall IERC20(token).transfer(self.owner, amount)
