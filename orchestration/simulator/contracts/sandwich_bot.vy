# pragma version ~=0.4.3
"""
@title Sandwich bot
@notice Trades from its own balance for any of its operators, so one bot can be driven by several
        externally owned accounts (bots rotate them: the contract, not the sender, is the constant).
        `viaRouter` relays through public routers (the swaps' sender is then the router and their
        recipient this contract); `direct` pays a pair and calls its `swap` itself, as most bots do,
        and forwards any ether sent with the call to the block's coinbase (a tip no log shows).
"""

from ethereum.ercs import IERC20

interface IPair:
    def token0() -> address: view
    def getReserves() -> (uint112, uint112, uint32): view
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]): nonpayable

interface IRouter:
    def swapExactTokensForTokens(
        amountIn: uint256, amountOutMin: uint256, path: DynArray[address, 4], to: address, deadline: uint256
    ) -> DynArray[uint256, 4]: nonpayable

owner: public(address)
operators: public(HashMap[address, bool])


@deploy
def __init__():
    self.owner = msg.sender
    self.operators[msg.sender] = True


@external
def setOperator(who: address, allowed: bool):
    assert msg.sender == self.owner, "only the owner"
    self.operators[who] = allowed


@external
def approve(token: address, spender: address):
    assert msg.sender == self.owner, "only the owner"
    assert extcall IERC20(token).approve(spender, max_value(uint256))


@external
def viaRouter(
    routers: DynArray[address, 3],
    paths: DynArray[DynArray[address, 4], 3],
    amounts: DynArray[uint256, 3],
    minOuts: DynArray[uint256, 3],
):
    assert self.operators[msg.sender], "not an operator"
    for i: uint256 in range(len(routers), bound=3):
        extcall IRouter(routers[i]).swapExactTokensForTokens(amounts[i], minOuts[i], paths[i], self, max_value(uint256))


@pure
@internal
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    with_fee: uint256 = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


@external
@payable
def direct(pair: address, tokenIn: address, amountIn: uint256, minOut: uint256):
    assert self.operators[msg.sender], "not an operator"
    if msg.value > 0:  # the builder's tip, paid inside the call: only a trace shows it
        send(block.coinbase, msg.value)
    r0: uint112 = 0
    r1: uint112 = 0
    ts: uint32 = 0
    r0, r1, ts = staticcall IPair(pair).getReserves()
    out: uint256 = 0
    assert extcall IERC20(tokenIn).transfer(pair, amountIn)
    if tokenIn == staticcall IPair(pair).token0():
        out = self._amount_out(amountIn, convert(r0, uint256), convert(r1, uint256))
        assert out >= minOut, "insufficient output amount"
        extcall IPair(pair).swap(0, out, self, b"")
    else:
        out = self._amount_out(amountIn, convert(r1, uint256), convert(r0, uint256))
        assert out >= minOut, "insufficient output amount"
        extcall IPair(pair).swap(out, 0, self, b"")
