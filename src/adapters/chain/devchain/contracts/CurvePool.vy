# pragma version ~=0.4.3
"""
@title Dev-chain Curve-like 3pool (DAI / USDC / USDT)
@notice The 3pool ABI subset (add_liquidity and remove_liquidity_one_coin with no return
        value, calc_token_amount, calc_withdraw_one_coin, get_virtual_price, coins, balances,
        get_dy, exchange, remove_liquidity) over a simplified invariant: constant sum of
        balances normalised to 18 decimals. A fee on deposits, one-coin withdrawals and
        exchanges stays in the pool, so the virtual price grows with use, as in Curve.
"""

interface IERC20:
    def transfer(_to: address, _value: uint256) -> bool: nonpayable
    def transferFrom(_from: address, _to: address, _value: uint256) -> bool: nonpayable
    def decimals() -> uint8: view

interface ILPToken:
    def mint(_to: address, _value: uint256) -> bool: nonpayable
    def burn_from(_from: address, _value: uint256) -> bool: nonpayable
    def totalSupply() -> uint256: view
    def balanceOf(_owner: address) -> uint256: view

event AddLiquidity:
    provider: indexed(address)
    token_amounts: uint256[N_COINS]
    fees: uint256[N_COINS]
    invariant: uint256
    token_supply: uint256

event RemoveLiquidityOne:
    provider: indexed(address)
    token_amount: uint256
    coin_amount: uint256

event RemoveLiquidity:
    provider: indexed(address)
    token_amounts: uint256[N_COINS]
    token_supply: uint256

event TokenExchange:
    buyer: indexed(address)
    sold_id: int128
    tokens_sold: uint256
    bought_id: int128
    tokens_bought: uint256

N_COINS: constant(uint256) = 3
FEE_DENOMINATOR: constant(uint256) = 10**10
PRECISION: constant(uint256) = 10**18

coins: public(address[N_COINS])
balances: public(uint256[N_COINS])
fee: public(uint256)
lp_token: public(address)
owner: public(address)
rates: uint256[N_COINS]


@deploy
def __init__(_coins: address[N_COINS], _lp_token: address, _fee: uint256):
    assert _fee < FEE_DENOMINATOR // 100, "fee too high"
    self.coins = _coins
    self.lp_token = _lp_token
    self.fee = _fee
    self.owner = msg.sender
    for i: uint256 in range(N_COINS):
        self.rates[i] = PRECISION * 10 ** (18 - convert(staticcall IERC20(_coins[i]).decimals(), uint256))


@internal
@view
def _invariant(_balances: uint256[N_COINS]) -> uint256:
    total: uint256 = 0
    for i: uint256 in range(N_COINS):
        total += _balances[i] * self.rates[i] // PRECISION
    return total


@internal
@view
def _supply() -> uint256:
    return staticcall ILPToken(self.lp_token).totalSupply()


@internal
@pure
def _index(i: int128) -> uint256:
    assert i >= 0 and i < 3, "coin index out of range"
    return convert(i, uint256)


@view
@external
def get_virtual_price() -> uint256:
    supply: uint256 = self._supply()
    if supply == 0:
        return PRECISION
    return self._invariant(self.balances) * PRECISION // supply


@view
@external
def calc_token_amount(amounts: uint256[N_COINS], is_deposit: bool) -> uint256:
    """@notice LP minted (deposit) or burned (withdrawal) for these amounts, without fees."""
    d0: uint256 = self._invariant(self.balances)
    moved: uint256 = self._invariant(amounts)
    supply: uint256 = self._supply()
    if supply == 0:
        assert is_deposit, "empty pool"
        return moved
    return moved * supply // d0


@external
@nonreentrant
def add_liquidity(amounts: uint256[N_COINS], min_mint_amount: uint256):
    d0: uint256 = self._invariant(self.balances)
    supply: uint256 = self._supply()
    deposited: uint256 = self._invariant(amounts)
    assert deposited > 0, "nothing deposited"
    fees: uint256[N_COINS] = empty(uint256[N_COINS])
    new_balances: uint256[N_COINS] = self.balances
    for i: uint256 in range(N_COINS):
        if amounts[i] > 0:
            assert extcall IERC20(self.coins[i]).transferFrom(msg.sender, self, amounts[i]), "transfer failed"
            new_balances[i] += amounts[i]
            if supply > 0:
                fees[i] = amounts[i] * self.fee // FEE_DENOMINATOR
    mint_amount: uint256 = deposited
    if supply > 0:
        # The fee stays in the pool: the depositor is credited for the deposit minus the fee.
        credited: uint256 = deposited - self._invariant(fees)
        mint_amount = credited * supply // d0
    assert mint_amount >= min_mint_amount, "Slippage screwed you"
    self.balances = new_balances
    extcall ILPToken(self.lp_token).mint(msg.sender, mint_amount)
    log AddLiquidity(provider=msg.sender, token_amounts=amounts, fees=fees, invariant=self._invariant(new_balances), token_supply=supply + mint_amount)


@internal
@view
def _calc_withdraw_one_coin(_token_amount: uint256, i: uint256) -> uint256:
    supply: uint256 = self._supply()
    assert supply > 0, "empty pool"
    assert _token_amount <= supply, "amount exceeds supply"
    value: uint256 = _token_amount * self._invariant(self.balances) // supply
    value -= value * self.fee // FEE_DENOMINATOR
    dy: uint256 = value * PRECISION // self.rates[i]
    assert dy <= self.balances[i], "not enough coin in the pool"
    return dy


@view
@external
def calc_withdraw_one_coin(_token_amount: uint256, i: int128) -> uint256:
    """@notice Coin received for burning `_token_amount` LP, fee included."""
    return self._calc_withdraw_one_coin(_token_amount, self._index(i))


@external
@nonreentrant
def remove_liquidity_one_coin(_token_amount: uint256, i: int128, min_amount: uint256):
    index: uint256 = self._index(i)
    assert staticcall ILPToken(self.lp_token).balanceOf(msg.sender) >= _token_amount, "insufficient LP balance"
    dy: uint256 = self._calc_withdraw_one_coin(_token_amount, index)
    assert dy >= min_amount, "Not enough coins removed"
    self.balances[index] -= dy
    extcall ILPToken(self.lp_token).burn_from(msg.sender, _token_amount)
    assert extcall IERC20(self.coins[index]).transfer(msg.sender, dy), "transfer failed"
    log RemoveLiquidityOne(provider=msg.sender, token_amount=_token_amount, coin_amount=dy)


@external
@nonreentrant
def remove_liquidity(_amount: uint256, min_amounts: uint256[N_COINS]):
    supply: uint256 = self._supply()
    assert staticcall ILPToken(self.lp_token).balanceOf(msg.sender) >= _amount, "insufficient LP balance"
    amounts: uint256[N_COINS] = empty(uint256[N_COINS])
    for i: uint256 in range(N_COINS):
        amounts[i] = self.balances[i] * _amount // supply
        assert amounts[i] >= min_amounts[i], "Withdrawal resulted in fewer coins than expected"
        self.balances[i] -= amounts[i]
        assert extcall IERC20(self.coins[i]).transfer(msg.sender, amounts[i]), "transfer failed"
    extcall ILPToken(self.lp_token).burn_from(msg.sender, _amount)
    log RemoveLiquidity(provider=msg.sender, token_amounts=amounts, token_supply=supply - _amount)


@internal
@view
def _get_dy(i: uint256, j: uint256, dx: uint256) -> uint256:
    assert i != j, "same coin"
    value: uint256 = dx * self.rates[i] // PRECISION
    value -= value * self.fee // FEE_DENOMINATOR
    dy: uint256 = value * PRECISION // self.rates[j]
    assert dy <= self.balances[j], "not enough coin in the pool"
    return dy


@view
@external
def get_dy(i: int128, j: int128, dx: uint256) -> uint256:
    return self._get_dy(self._index(i), self._index(j), dx)


@external
@nonreentrant
def exchange(i: int128, j: int128, dx: uint256, min_dy: uint256):
    a: uint256 = self._index(i)
    b: uint256 = self._index(j)
    dy: uint256 = self._get_dy(a, b, dx)
    assert dy >= min_dy, "Exchange resulted in fewer coins than expected"
    assert extcall IERC20(self.coins[a]).transferFrom(msg.sender, self, dx), "transfer failed"
    self.balances[a] += dx
    self.balances[b] -= dy
    assert extcall IERC20(self.coins[b]).transfer(msg.sender, dy), "transfer failed"
    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)
