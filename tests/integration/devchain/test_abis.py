"""The dev contracts expose the real protocols' ABI subsets (names, types, selectors, outputs)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector

from adapters.chain.devchain.compile import compile_contract
from tests.integration.devchain.fixtures import COMPILE_CACHE


def _type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def functions(contract: str) -> dict[str, dict[str, Any]]:
    """Signature -> ABI entry for every function of a compiled dev contract."""
    abi = compile_contract(contract, COMPILE_CACHE).abi
    return {
        f"{e['name']}({','.join(_type(p) for p in e['inputs'])})": e
        for e in abi
        if e["type"] == "function"
    }


def outputs(entry: dict[str, Any]) -> list[str]:
    return [_type(p) for p in entry["outputs"]]


ERC20 = {
    "name()": ["string"],
    "symbol()": ["string"],
    "decimals()": ["uint8"],
    "totalSupply()": ["uint256"],
    "balanceOf(address)": ["uint256"],
    "allowance(address,address)": ["uint256"],
    "transfer(address,uint256)": ["bool"],
    "transferFrom(address,address,uint256)": ["bool"],
    "approve(address,uint256)": ["bool"],
}
RESERVE_DATA_LEGACY = (
    "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,"
    "address,address,address,address,uint128,uint128,uint128)"
)


@pytest.mark.parametrize("contract", ["ERC20", "AToken"])
def test_tokens_expose_the_erc20_abi(contract: str) -> None:
    found = functions(contract)
    for signature, returns in ERC20.items():
        assert outputs(found[signature]) == returns, signature


def test_aave_pool_matches_the_v3_pool_abi() -> None:
    found = functions("AavePool")
    assert outputs(found["supply(address,uint256,address,uint16)"]) == []
    assert outputs(found["withdraw(address,uint256,address)"]) == ["uint256"]
    assert outputs(found["getReserveData(address)"]) == [RESERVE_DATA_LEGACY]
    # The documented selector of Aave V3 supply.
    assert function_signature_to_4byte_selector("supply(address,uint256,address,uint16)").hex() == (
        "617ba037"
    )


def test_curve_pool_matches_the_3pool_abi() -> None:
    found = functions("CurvePool")
    expected = {
        "add_liquidity(uint256[3],uint256)": [],
        "remove_liquidity_one_coin(uint256,int128,uint256)": [],
        "remove_liquidity(uint256,uint256[3])": [],
        "calc_token_amount(uint256[3],bool)": ["uint256"],
        "calc_withdraw_one_coin(uint256,int128)": ["uint256"],
        "get_virtual_price()": ["uint256"],
        "get_dy(int128,int128,uint256)": ["uint256"],
        "exchange(int128,int128,uint256,uint256)": [],
        "coins(uint256)": ["address"],
        "balances(uint256)": ["uint256"],
    }
    for signature, returns in expected.items():
        assert outputs(found[signature]) == returns, signature


def test_pendle_market_and_router_expose_the_views_positions_are_valued_with() -> None:
    market = functions("PendleMarket")
    for signature in ("impliedApy()", "ptPrice()", "expiry()", "pt()", "isExpired()"):
        assert signature in market
    router = functions("SwapRouter")
    assert outputs(router["swap(address,address,uint256,uint256,address)"]) == ["uint256"]
    assert outputs(router["getAmountOut(address,address,uint256)"]) == ["uint256"]
