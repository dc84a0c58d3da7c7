# pragma version ~=0.4.3
"""
@title Dev-chain Pendle-like PT market and router
@notice Buys PT with the underlying at the price implied by a fixed implied APY and the time
        to maturity, PT price = 1 / (1 + apy) ^ (t / year), computed in 1e18 fixed point as
        exp(-ln(1 + apy) * t / year); sells PT back before maturity at that price; redeems PT
        1:1 at or after maturity. A swap fee applies to trades before maturity. The market
        holds underlying liquidity (seeded at deploy) and is the PT's minter. PT decimals
        follow the SY, not the token traded (18 for a USDC market, as for USDe-type markets
        live): amounts are scaled between the two.
"""

interface IERC20:
    def transfer(_to: address, _value: uint256) -> bool: nonpayable
    def transferFrom(_from: address, _to: address, _value: uint256) -> bool: nonpayable
    def balanceOf(_owner: address) -> uint256: view
    def decimals() -> uint8: view

interface IPT:
    def mint(_to: address, _value: uint256) -> bool: nonpayable
    def burn_from(_from: address, _value: uint256) -> bool: nonpayable

event Swap:
    caller: indexed(address)
    receiver: indexed(address)
    netPtToAccount: int256
    netTokenToAccount: int256

event Redeem:
    caller: indexed(address)
    receiver: indexed(address)
    netPyIn: uint256
    netTokenOut: uint256

event ImpliedApySet:
    impliedApy: uint256

WAD: constant(uint256) = 10**18
SECONDS_PER_YEAR: constant(uint256) = 31536000

pt: public(address)
underlying: public(address)
expiry: public(uint256)
impliedApy: public(uint256)
swapFee: public(uint256)
owner: public(address)
# 10 ** (PT decimals - underlying decimals): PT base units per underlying base unit at par.
ptScale: public(uint256)


@deploy
def __init__(_pt: address, _underlying: address, _expiry: uint256, _implied_apy: uint256, _swap_fee: uint256):
    assert _swap_fee < WAD // 10, "fee too high"
    self.pt = _pt
    self.underlying = _underlying
    self.expiry = _expiry
    self.impliedApy = _implied_apy
    self.swapFee = _swap_fee
    self.owner = msg.sender
    pt_decimals: uint256 = convert(staticcall IERC20(_pt).decimals(), uint256)
    underlying_decimals: uint256 = convert(staticcall IERC20(_underlying).decimals(), uint256)
    assert pt_decimals >= underlying_decimals, "PT decimals below the underlying's"
    self.ptScale = 10 ** (pt_decimals - underlying_decimals)


@internal
@pure
def _ln1p(x: uint256) -> uint256:
    # ln(1 + x) = 2 atanh(x / (2 + x)); the series in y = x/(2+x) converges fast for x < 1.
    y: uint256 = x * WAD // (2 * WAD + x)
    y2: uint256 = y * y // WAD
    term: uint256 = y
    total: uint256 = y
    for k: uint256 in range(1, 16):
        term = term * y2 // WAD
        total += term // (2 * k + 1)
    return 2 * total


@internal
@pure
def _exp(x: uint256) -> uint256:
    # e^x by its Taylor series; x is at most a few units here (ln(1+apy) x years).
    term: uint256 = WAD
    total: uint256 = WAD
    for k: uint256 in range(1, 40):
        term = term * x // (k * WAD)
        total += term
        if term == 0:
            break
    return total


@internal
@view
def _pt_price() -> uint256:
    if block.timestamp >= self.expiry:
        return WAD
    t: uint256 = self.expiry - block.timestamp
    exponent: uint256 = self._ln1p(self.impliedApy) * t // SECONDS_PER_YEAR
    return WAD * WAD // self._exp(exponent)


@view
@external
def ptPrice() -> uint256:
    """@notice Underlying per PT, 1e18 fixed point (1e18 at and after maturity)."""
    return self._pt_price()


@view
@external
def isExpired() -> bool:
    return block.timestamp >= self.expiry


@internal
@view
def _pt_out(net_token_in: uint256) -> uint256:
    assert block.timestamp < self.expiry, "Market: expired"
    after_fee: uint256 = net_token_in * (WAD - self.swapFee) // WAD
    return after_fee * WAD // self._pt_price() * self.ptScale


@internal
@view
def _token_out(exact_pt_in: uint256) -> uint256:
    if block.timestamp >= self.expiry:
        return exact_pt_in // self.ptScale
    gross: uint256 = exact_pt_in * self._pt_price() // WAD // self.ptScale
    return gross * (WAD - self.swapFee) // WAD


@view
@external
def previewSwapExactTokenForPt(netTokenIn: uint256) -> uint256:
    return self._pt_out(netTokenIn)


@view
@external
def previewSwapExactPtForToken(exactPtIn: uint256) -> uint256:
    return self._token_out(exactPtIn)


@external
@nonreentrant
def swapExactTokenForPt(receiver: address, netTokenIn: uint256, minPtOut: uint256) -> uint256:
    assert netTokenIn > 0, "Market: zero amount"
    pt_out: uint256 = self._pt_out(netTokenIn)
    assert pt_out >= minPtOut, "Slippage: INSUFFICIENT_PT_OUT"
    assert extcall IERC20(self.underlying).transferFrom(msg.sender, self, netTokenIn), "transfer failed"
    extcall IPT(self.pt).mint(receiver, pt_out)
    log Swap(caller=msg.sender, receiver=receiver, netPtToAccount=convert(pt_out, int256), netTokenToAccount=-convert(netTokenIn, int256))
    return pt_out


@internal
def _take_pt(amount: uint256):
    assert amount > 0, "Market: zero amount"
    assert extcall IERC20(self.pt).transferFrom(msg.sender, self, amount), "transfer failed"
    extcall IPT(self.pt).burn_from(self, amount)


@internal
def _pay(receiver: address, amount: uint256):
    assert staticcall IERC20(self.underlying).balanceOf(self) >= amount, "Market: insufficient liquidity"
    assert extcall IERC20(self.underlying).transfer(receiver, amount), "transfer failed"


@external
@nonreentrant
def swapExactPtForToken(receiver: address, exactPtIn: uint256, minTokenOut: uint256) -> uint256:
    token_out: uint256 = self._token_out(exactPtIn)
    assert token_out >= minTokenOut, "Slippage: INSUFFICIENT_TOKEN_OUT"
    self._take_pt(exactPtIn)
    self._pay(receiver, token_out)
    log Swap(caller=msg.sender, receiver=receiver, netPtToAccount=-convert(exactPtIn, int256), netTokenToAccount=convert(token_out, int256))
    return token_out


@external
@nonreentrant
def redeemPyToToken(receiver: address, netPyIn: uint256, minTokenOut: uint256) -> uint256:
    assert block.timestamp >= self.expiry, "YCE: not expired"
    token_out: uint256 = netPyIn // self.ptScale
    assert token_out >= minTokenOut, "Slippage: INSUFFICIENT_TOKEN_OUT"
    self._take_pt(netPyIn)
    self._pay(receiver, token_out)
    log Redeem(caller=msg.sender, receiver=receiver, netPyIn=netPyIn, netTokenOut=token_out)
    return token_out


@external
def setImpliedApy(_implied_apy: uint256):
    assert msg.sender == self.owner, "Market: caller is not the owner"
    self.impliedApy = _implied_apy
    log ImpliedApySet(impliedApy=_implied_apy)
