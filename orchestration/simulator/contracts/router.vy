# pragma version ~=0.4.3
"""
@title Router
@notice Swaps along a token path through registered pairs, with Uniswap V2's
        `swapExactTokensForTokens` selector and amount rule. Each deployed router is one venue: it
        knows one pair per token pair. A router only relays; it is never the trader.
"""

from ethereum.ercs import IERC20

interface IPair:
    def token0() -> address: view
    def token1() -> address: view
    def getReserves() -> (uint112, uint112, uint32): view
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]): nonpayable

owner: public(address)
pairFor: public(HashMap[address, HashMap[address, address]])


@deploy
def __init__():
    self.owner = msg.sender


@external
def addPair(pair: address):
    assert msg.sender == self.owner, "only the owner"
    t0: address = staticcall IPair(pair).token0()
    t1: address = staticcall IPair(pair).token1()
    self.pairFor[t0][t1] = pair
    self.pairFor[t1][t0] = pair


@pure
@internal
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    with_fee: uint256 = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


@view
@internal
def _amounts_out(amount_in: uint256, path: DynArray[address, 4]) -> DynArray[uint256, 4]:
    amounts: DynArray[uint256, 4] = [amount_in]
    for i: uint256 in range(len(path) - 1, bound=3):
        pair: address = self.pairFor[path[i]][path[i + 1]]
        assert pair != empty(address), "no pair"
        r0: uint112 = 0
        r1: uint112 = 0
        ts: uint32 = 0
        r0, r1, ts = staticcall IPair(pair).getReserves()
        if path[i] == staticcall IPair(pair).token0():
            amounts.append(self._amount_out(amounts[i], convert(r0, uint256), convert(r1, uint256)))
        else:
            amounts.append(self._amount_out(amounts[i], convert(r1, uint256), convert(r0, uint256)))
    return amounts


@view
@external
def getAmountsOut(amountIn: uint256, path: DynArray[address, 4]) -> DynArray[uint256, 4]:
    return self._amounts_out(amountIn, path)


@external
def swapExactTokensForTokens(
    amountIn: uint256, amountOutMin: uint256, path: DynArray[address, 4], to: address, deadline: uint256
) -> DynArray[uint256, 4]:
    assert block.timestamp <= deadline, "expired"
    assert len(path) >= 2, "path too short"
    amounts: DynArray[uint256, 4] = self._amounts_out(amountIn, path)
    assert amounts[len(amounts) - 1] >= amountOutMin, "insufficient output amount"
    first: address = self.pairFor[path[0]][path[1]]
    assert extcall IERC20(path[0]).transferFrom(msg.sender, first, amountIn)
    for i: uint256 in range(len(path) - 1, bound=3):
        pair: address = self.pairFor[path[i]][path[i + 1]]
        receiver: address = to
        if i + 2 < len(path):
            receiver = self.pairFor[path[i + 1]][path[i + 2]]
        if path[i] == staticcall IPair(pair).token0():
            extcall IPair(pair).swap(0, amounts[i + 1], receiver, b"")
        else:
            extcall IPair(pair).swap(amounts[i + 1], 0, receiver, b"")
    return amounts
