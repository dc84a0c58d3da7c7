# pragma version ~=0.4.3
"""
@title Dev-chain swap router (the 1inch stand-in)
@notice Swaps any two listed tokens at oracle prices, less a fee and a size-dependent price
        impact (impact = value / (value + depth)), filled from the router's own inventory.
        Reverts when the return is below minReturn.
"""

interface IERC20:
    def transfer(_to: address, _value: uint256) -> bool: nonpayable
    def transferFrom(_from: address, _to: address, _value: uint256) -> bool: nonpayable
    def balanceOf(_owner: address) -> uint256: view
    def decimals() -> uint8: view

interface IOracle:
    def price(_token: address) -> uint256: view

event Swapped:
    sender: indexed(address)
    srcToken: indexed(address)
    dstToken: indexed(address)
    dstReceiver: address
    spentAmount: uint256
    returnAmount: uint256

BPS: constant(uint256) = 10000

oracle: public(address)
feeBps: public(uint256)
depthUsd: public(uint256)
owner: public(address)
listed: public(HashMap[address, bool])


@deploy
def __init__(_oracle: address, _fee_bps: uint256, _depth_usd: uint256):
    assert _fee_bps < 1000, "fee too high"
    assert _depth_usd > 0, "depth must be positive"
    self.oracle = _oracle
    self.feeBps = _fee_bps
    self.depthUsd = _depth_usd
    self.owner = msg.sender


@external
def list_token(_token: address):
    assert msg.sender == self.owner, "Router: caller is not the owner"
    self.listed[_token] = True


@external
def set_params(_fee_bps: uint256, _depth_usd: uint256):
    assert msg.sender == self.owner, "Router: caller is not the owner"
    assert _fee_bps < 1000, "fee too high"
    assert _depth_usd > 0, "depth must be positive"
    self.feeBps = _fee_bps
    self.depthUsd = _depth_usd


@internal
@view
def _quote(src: address, dst: address, amount: uint256) -> uint256:
    assert src != dst, "Router: same token"
    assert self.listed[src] and self.listed[dst], "Router: token not listed"
    assert amount > 0, "Router: zero amount"
    src_unit: uint256 = 10 ** convert(staticcall IERC20(src).decimals(), uint256)
    dst_unit: uint256 = 10 ** convert(staticcall IERC20(dst).decimals(), uint256)
    value_usd: uint256 = amount * staticcall IOracle(self.oracle).price(src) // src_unit
    after_fee: uint256 = value_usd * (BPS - self.feeBps) // BPS
    after_impact: uint256 = after_fee * self.depthUsd // (self.depthUsd + value_usd)
    return after_impact * dst_unit // staticcall IOracle(self.oracle).price(dst)


@view
@external
def getAmountOut(src: address, dst: address, amount: uint256) -> uint256:
    """@notice What `swap` would return now, before the inventory check."""
    return self._quote(src, dst, amount)


@view
@external
def inventory(_token: address) -> uint256:
    return staticcall IERC20(_token).balanceOf(self)


@external
@nonreentrant
def swap(src: address, dst: address, amount: uint256, minReturn: uint256, receiver: address) -> uint256:
    out: uint256 = self._quote(src, dst, amount)
    assert out >= minReturn, "Router: return amount is not enough"
    assert staticcall IERC20(dst).balanceOf(self) >= out, "Router: insufficient liquidity"
    assert extcall IERC20(src).transferFrom(msg.sender, self, amount), "transfer failed"
    assert extcall IERC20(dst).transfer(receiver, out), "transfer failed"
    log Swapped(sender=msg.sender, srcToken=src, dstToken=dst, dstReceiver=receiver, spentAmount=amount, returnAmount=out)
    return out
