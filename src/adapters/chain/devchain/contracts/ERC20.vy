# pragma version ~=0.4.3
"""
@title Dev-chain ERC-20 token
@notice A plain ERC-20 (name, symbol, decimals, totalSupply, balanceOf, transfer,
        transferFrom, approve, allowance) with an owner who may mint for funding, and
        minters (pools) that may mint and burn their own receipt tokens.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[64])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
owner: public(address)
minters: public(HashMap[address, bool])


@deploy
def __init__(_name: String[64], _symbol: String[32], _decimals: uint8):
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.owner = msg.sender


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    assert _to != empty(address), "ERC20: transfer to the zero address"
    assert self.balanceOf[_from] >= _value, "ERC20: transfer amount exceeds balance"
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    allowed: uint256 = self.allowance[_from][msg.sender]
    assert allowed >= _value, "ERC20: insufficient allowance"
    if allowed != max_value(uint256):
        self.allowance[_from][msg.sender] = allowed - _value
    self._transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


@external
def set_minter(_minter: address, _allowed: bool):
    assert msg.sender == self.owner, "ERC20: caller is not the owner"
    self.minters[_minter] = _allowed


@external
def mint(_to: address, _value: uint256) -> bool:
    assert msg.sender == self.owner or self.minters[msg.sender], "ERC20: caller may not mint"
    assert _to != empty(address), "ERC20: mint to the zero address"
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)
    return True


@external
def burn_from(_from: address, _value: uint256) -> bool:
    assert self.minters[msg.sender], "ERC20: caller may not burn"
    assert self.balanceOf[_from] >= _value, "ERC20: burn amount exceeds balance"
    self.balanceOf[_from] -= _value
    self.totalSupply -= _value
    log Transfer(sender=_from, receiver=empty(address), value=_value)
    return True
