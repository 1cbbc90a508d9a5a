# pragma version ~=0.4.3
"""
@title Delegating executor
@notice A smart wallet that runs any code in its own storage through DELEGATECALL: the pattern a
        contract-risk scan must flag (whoever controls `target` controls this contract's state).
"""

owner: public(address)
calls: public(uint256)


@deploy
def __init__():
    self.owner = msg.sender


@external
def execute(target: address, data: Bytes[1024]) -> Bytes[1024]:
    assert msg.sender == self.owner, "only the owner"
    self.calls += 1
    return raw_call(target, data, max_outsize=1024, is_delegate_call=True)
