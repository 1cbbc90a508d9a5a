# pragma version ~=0.4.3
"""
@title Self-destructing vault
@notice Holds ether for its owner and can SELFDESTRUCT, sending its balance away in one step: the
        other pattern a contract-risk scan must flag.
"""

owner: public(address)


@deploy
@payable
def __init__():
    self.owner = msg.sender


@external
@payable
def __default__():
    pass


@external
def destroy(beneficiary: address):
    assert msg.sender == self.owner, "only the owner"
    selfdestruct(beneficiary)
