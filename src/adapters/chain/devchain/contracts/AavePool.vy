# pragma version ~=0.4.3
"""
@title Dev-chain Aave V3-like Pool
@notice supply / withdraw / getReserveData with the Aave V3 ABI (ReserveDataLegacy, 15
        fields). Interest accrues to aToken holders through a liquidity index that grows
        linearly with block time at the reserve's liquidity rate (ray, per year) between
        updates, as Aave's calculateLinearInterest does. The pool holds the underlying,
        seeded at deploy so that accrued interest can be paid out.
"""

interface IERC20:
    def transfer(_to: address, _value: uint256) -> bool: nonpayable
    def transferFrom(_from: address, _to: address, _value: uint256) -> bool: nonpayable
    def balanceOf(_owner: address) -> uint256: view
    def decimals() -> uint8: view

interface IAToken:
    def mint_scaled(_to: address, _scaled: uint256, _value: uint256): nonpayable
    def burn_scaled(_from: address, _scaled: uint256, _value: uint256): nonpayable
    def scaledBalanceOf(_user: address) -> uint256: view

struct ReserveConfigurationMap:
    data: uint256

struct ReserveDataLegacy:
    configuration: ReserveConfigurationMap
    liquidityIndex: uint128
    currentLiquidityRate: uint128
    variableBorrowIndex: uint128
    currentVariableBorrowRate: uint128
    currentStableBorrowRate: uint128
    lastUpdateTimestamp: uint40
    id: uint16
    aTokenAddress: address
    stableDebtTokenAddress: address
    variableDebtTokenAddress: address
    interestRateStrategyAddress: address
    accruedToTreasury: uint128
    unbacked: uint128
    isolationModeTotalDebt: uint128

struct Reserve:
    liquidityIndex: uint256
    liquidityRate: uint256
    lastUpdate: uint256
    id: uint16
    aToken: address
    decimals: uint8

event Supply:
    reserve: indexed(address)
    user: address
    onBehalfOf: indexed(address)
    amount: uint256
    referralCode: indexed(uint16)

event Withdraw:
    reserve: indexed(address)
    user: indexed(address)
    to: indexed(address)
    amount: uint256

event ReserveRateSet:
    reserve: indexed(address)
    liquidityRate: uint256

RAY: constant(uint256) = 10**27
HALF_RAY: constant(uint256) = 10**27 // 2
SECONDS_PER_YEAR: constant(uint256) = 31536000
# Configuration bitmap: bit 56 = active, decimals at bits 48-55 (Aave's ReserveConfiguration).
ACTIVE_BIT: constant(uint256) = 1 << 56

owner: public(address)
reserves: HashMap[address, Reserve]
reservesCount: public(uint16)


@deploy
def __init__():
    self.owner = msg.sender


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
def _normalized_income(_asset: address) -> uint256:
    r: Reserve = self.reserves[_asset]
    if r.lastUpdate == block.timestamp:
        return r.liquidityIndex
    linear: uint256 = RAY + r.liquidityRate * (block.timestamp - r.lastUpdate) // SECONDS_PER_YEAR
    return self._ray_mul(linear, r.liquidityIndex)


@internal
def _update(_asset: address) -> uint256:
    index: uint256 = self._normalized_income(_asset)
    self.reserves[_asset].liquidityIndex = index
    self.reserves[_asset].lastUpdate = block.timestamp
    return index


@external
def init_reserve(_asset: address, _a_token: address, _liquidity_rate: uint256):
    assert msg.sender == self.owner, "Pool: caller is not the owner"
    assert self.reserves[_asset].aToken == empty(address), "Pool: reserve already initialized"
    self.reserves[_asset] = Reserve(
        liquidityIndex=RAY,
        liquidityRate=_liquidity_rate,
        lastUpdate=block.timestamp,
        id=self.reservesCount,
        aToken=_a_token,
        decimals=staticcall IERC20(_asset).decimals(),
    )
    self.reservesCount += 1
    log ReserveRateSet(reserve=_asset, liquidityRate=_liquidity_rate)


@external
def set_liquidity_rate(_asset: address, _liquidity_rate: uint256):
    """@notice Change a reserve's supply rate (ray, per year); interest so far is kept."""
    assert msg.sender == self.owner, "Pool: caller is not the owner"
    assert self.reserves[_asset].aToken != empty(address), "Pool: reserve not initialized"
    self._update(_asset)
    self.reserves[_asset].liquidityRate = _liquidity_rate
    log ReserveRateSet(reserve=_asset, liquidityRate=_liquidity_rate)


@external
def supply(asset: address, amount: uint256, onBehalfOf: address, referralCode: uint16):
    r: Reserve = self.reserves[asset]
    assert r.aToken != empty(address), "Pool: reserve not initialized"
    assert amount > 0, "Pool: invalid amount"
    assert staticcall IERC20(asset).balanceOf(msg.sender) >= amount, "Pool: insufficient balance"
    index: uint256 = self._update(asset)
    assert extcall IERC20(asset).transferFrom(msg.sender, self, amount), "Pool: transfer failed"
    extcall IAToken(r.aToken).mint_scaled(onBehalfOf, self._ray_div(amount, index), amount)
    log Supply(reserve=asset, user=msg.sender, onBehalfOf=onBehalfOf, amount=amount, referralCode=referralCode)


@external
def withdraw(asset: address, amount: uint256, to: address) -> uint256:
    r: Reserve = self.reserves[asset]
    assert r.aToken != empty(address), "Pool: reserve not initialized"
    assert amount > 0, "Pool: invalid amount"
    index: uint256 = self._update(asset)
    scaled_balance: uint256 = staticcall IAToken(r.aToken).scaledBalanceOf(msg.sender)
    balance: uint256 = self._ray_mul(scaled_balance, index)
    value: uint256 = amount
    scaled: uint256 = 0
    if amount == max_value(uint256) or amount == balance:
        value = balance
        scaled = scaled_balance
    else:
        assert amount <= balance, "Pool: not enough available user balance"
        scaled = self._ray_div(amount, index)
    assert value > 0, "Pool: nothing to withdraw"
    assert staticcall IERC20(asset).balanceOf(self) >= value, "Pool: not enough liquidity in reserve"
    extcall IAToken(r.aToken).burn_scaled(msg.sender, scaled, value)
    assert extcall IERC20(asset).transfer(to, value), "Pool: transfer failed"
    log Withdraw(reserve=asset, user=msg.sender, to=to, amount=value)
    return value


@view
@external
def getReserveNormalizedIncome(asset: address) -> uint256:
    return self._normalized_income(asset)


@view
@external
def getReserveData(asset: address) -> ReserveDataLegacy:
    r: Reserve = self.reserves[asset]
    configuration: uint256 = 0
    if r.aToken != empty(address):
        configuration = ACTIVE_BIT | (convert(r.decimals, uint256) << 48)
    return ReserveDataLegacy(
        configuration=ReserveConfigurationMap(data=configuration),
        liquidityIndex=convert(r.liquidityIndex, uint128),
        currentLiquidityRate=convert(r.liquidityRate, uint128),
        variableBorrowIndex=convert(RAY, uint128),
        currentVariableBorrowRate=0,
        currentStableBorrowRate=0,
        lastUpdateTimestamp=convert(r.lastUpdate, uint40),
        id=r.id,
        aTokenAddress=r.aToken,
        stableDebtTokenAddress=empty(address),
        variableDebtTokenAddress=empty(address),
        interestRateStrategyAddress=empty(address),
        accruedToTreasury=0,
        unbacked=0,
        isolationModeTotalDebt=0,
    )
