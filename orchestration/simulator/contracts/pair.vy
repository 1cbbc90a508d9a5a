# pragma version ~=0.4.3
"""
@title Constant-product pair
@notice Uniswap V2's pair semantics in Vyper: the same Mint, Swap, Sync and Transfer event
        signatures (so their topic hashes equal V2's and a V2 decoder reads them), `token0 < token1`,
        the 0.3% fee rule on the invariant, and the optimistic transfer-then-check swap.
        No flash swaps: `data` is accepted for the V2 selector and ignored.
"""

from ethereum.ercs import IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Mint:
    sender: indexed(address)
    amount0: uint256
    amount1: uint256

event Swap:
    sender: indexed(address)
    amount0In: uint256
    amount1In: uint256
    amount0Out: uint256
    amount1Out: uint256
    to: indexed(address)

event Sync:
    reserve0: uint112
    reserve1: uint112

MINIMUM_LIQUIDITY: constant(uint256) = 1000

token0: public(address)
token1: public(address)
reserve0: uint112
reserve1: uint112
blockTimestampLast: uint32
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])


@deploy
def __init__(token0_: address, token1_: address):
    assert convert(token0_, uint256) < convert(token1_, uint256), "tokens not sorted"
    self.token0 = token0_
    self.token1 = token1_


@view
@external
def getReserves() -> (uint112, uint112, uint32):
    return self.reserve0, self.reserve1, self.blockTimestampLast


@internal
def _update(balance0: uint256, balance1: uint256):
    self.reserve0 = convert(balance0, uint112)
    self.reserve1 = convert(balance1, uint112)
    self.blockTimestampLast = convert(block.timestamp % 2**32, uint32)
    log Sync(reserve0=self.reserve0, reserve1=self.reserve1)


@internal
def _mint_lp(receiver: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
@nonreentrant
def mint(to: address) -> uint256:
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    balance0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    amount0: uint256 = balance0 - r0
    amount1: uint256 = balance1 - r1
    liquidity: uint256 = 0
    supply: uint256 = self.totalSupply
    if supply == 0:
        liquidity = isqrt(amount0 * amount1) - MINIMUM_LIQUIDITY
        self._mint_lp(empty(address), MINIMUM_LIQUIDITY)
    else:
        liquidity = min(amount0 * supply // r0, amount1 * supply // r1)
    assert liquidity > 0, "insufficient liquidity minted"
    self._mint_lp(to, liquidity)
    self._update(balance0, balance1)
    log Mint(sender=msg.sender, amount0=amount0, amount1=amount1)
    return liquidity


@external
@nonreentrant
def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[256]):
    assert amount0Out > 0 or amount1Out > 0, "insufficient output amount"
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    assert amount0Out < r0 and amount1Out < r1, "insufficient liquidity"
    t0: address = self.token0
    t1: address = self.token1
    assert to != t0 and to != t1, "invalid to"
    if amount0Out > 0:
        assert extcall IERC20(t0).transfer(to, amount0Out)
    if amount1Out > 0:
        assert extcall IERC20(t1).transfer(to, amount1Out)
    balance0: uint256 = staticcall IERC20(t0).balanceOf(self)
    balance1: uint256 = staticcall IERC20(t1).balanceOf(self)
    amount0In: uint256 = 0
    amount1In: uint256 = 0
    if balance0 > r0 - amount0Out:
        amount0In = balance0 - (r0 - amount0Out)
    if balance1 > r1 - amount1Out:
        amount1In = balance1 - (r1 - amount1Out)
    assert amount0In > 0 or amount1In > 0, "insufficient input amount"
    adjusted0: uint256 = balance0 * 1000 - amount0In * 3
    adjusted1: uint256 = balance1 * 1000 - amount1In * 3
    assert adjusted0 * adjusted1 >= r0 * r1 * 1000 * 1000, "K"
    self._update(balance0, balance1)
    log Swap(sender=msg.sender, amount0In=amount0In, amount1In=amount1In, amount0Out=amount0Out, amount1Out=amount1Out, to=to)
