# pragma version ~=0.4.3
"""
@title Dev-chain USD price oracle
@notice USD price of one whole token, 1e18 fixed point, set by the owner (the simulated
        market pushes BTC and ETH prices here; stablecoins sit at 1 USD).
"""

event PriceSet:
    token: indexed(address)
    price: uint256

PRICE_UNIT: public(constant(uint256)) = 10**18

owner: public(address)
prices: HashMap[address, uint256]
updatedAt: public(HashMap[address, uint256])


@deploy
def __init__():
    self.owner = msg.sender


@external
def set_price(_token: address, _price: uint256):
    assert msg.sender == self.owner, "Oracle: caller is not the owner"
    assert _price > 0, "Oracle: price must be positive"
    self.prices[_token] = _price
    self.updatedAt[_token] = block.timestamp
    log PriceSet(token=_token, price=_price)


@view
@external
def price(_token: address) -> uint256:
    """@notice USD per whole token, 1e18 fixed point; reverts for an unknown token."""
    p: uint256 = self.prices[_token]
    assert p > 0, "Oracle: no price for token"
    return p
