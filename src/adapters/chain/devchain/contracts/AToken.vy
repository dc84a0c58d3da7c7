# pragma version ~=0.4.3
"""
@title Dev-chain Aave aToken
@notice Interest-bearing receipt of an Aave-like pool. Balances are stored scaled; the
        visible balance is scaled balance x the pool's liquidity index (ray), so it grows
        with block time. Only the pool mints and burns.
"""

interface IPool:
    def getReserveNormalizedIncome(asset: address) -> uint256: view

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

RAY: constant(uint256) = 10**27
HALF_RAY: constant(uint256) = 10**27 // 2

name: public(String[64])
symbol: public(String[32])
decimals: public(uint8)
POOL: public(address)
UNDERLYING_ASSET_ADDRESS: public(address)
allowance: public(HashMap[address, HashMap[address, uint256]])
scaledBalances: HashMap[address, uint256]
scaledSupply: uint256


@deploy
def __init__(_name: String[64], _symbol: String[32], _decimals: uint8, _pool: address, _underlying: address):
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.POOL = _pool
    self.UNDERLYING_ASSET_ADDRESS = _underlying


@internal
@pure
def _ray_mul(a: uint256, b: uint256) -> uint256:
    return (a * b + HALF_RAY) // RAY


@internal
@pure
def _ray_div(a: uint256, b: uint256) -> uint256:
    return (a * RAY + b // 2) // b


@internal
@view
def _index() -> uint256:
    return staticcall IPool(self.POOL).getReserveNormalizedIncome(self.UNDERLYING_ASSET_ADDRESS)


@view
@external
def balanceOf(_user: address) -> uint256:
    return self._ray_mul(self.scaledBalances[_user], self._index())


@view
@external
def totalSupply() -> uint256:
    return self._ray_mul(self.scaledSupply, self._index())


@view
@external
def scaledBalanceOf(_user: address) -> uint256:
    return self.scaledBalances[_user]


@view
@external
def scaledTotalSupply() -> uint256:
    return self.scaledSupply


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    assert _to != empty(address), "AToken: transfer to the zero address"
    index: uint256 = self._index()
    scaled: uint256 = self._ray_div(_value, index)
    if self._ray_mul(self.scaledBalances[_from], index) == _value:
        scaled = self.scaledBalances[_from]
    assert self.scaledBalances[_from] >= scaled, "AToken: transfer amount exceeds balance"
    self.scaledBalances[_from] -= scaled
    self.scaledBalances[_to] += scaled
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    allowed: uint256 = self.allowance[_from][msg.sender]
    assert allowed >= _value, "AToken: insufficient allowance"
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
def mint_scaled(_to: address, _scaled: uint256, _value: uint256):
    assert msg.sender == self.POOL, "AToken: caller is not the pool"
    self.scaledBalances[_to] += _scaled
    self.scaledSupply += _scaled
    log Transfer(sender=empty(address), receiver=_to, value=_value)


@external
def burn_scaled(_from: address, _scaled: uint256, _value: uint256):
    assert msg.sender == self.POOL, "AToken: caller is not the pool"
    assert self.scaledBalances[_from] >= _scaled, "AToken: burn amount exceeds balance"
    self.scaledBalances[_from] -= _scaled
    self.scaledSupply -= _scaled
    log Transfer(sender=_from, receiver=empty(address), value=_value)
