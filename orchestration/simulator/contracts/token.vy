# pragma version ~=0.4.3
"""
@title Devnet ERC-20
@notice A plain ERC-20 with a minter. `initialize` lets the same code serve as the logic behind an
        EIP-1967 proxy or an EIP-1167 clone: their storage starts empty, because a constructor runs
        only in the implementation's own storage.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
minter: public(address)


@deploy
def __init__(name_: String[32], symbol_: String[16], decimals_: uint8):
    self._setup(name_, symbol_, decimals_, msg.sender)


@internal
def _setup(name_: String[32], symbol_: String[16], decimals_: uint8, minter_: address):
    self.name = name_
    self.symbol = symbol_
    self.decimals = decimals_
    self.minter = minter_


@external
def initialize(name_: String[32], symbol_: String[16], decimals_: uint8, minter_: address):
    assert self.minter == empty(address), "already initialized"
    assert minter_ != empty(address), "no minter"
    self._setup(name_, symbol_, decimals_, minter_)


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.minter, "only the minter"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
