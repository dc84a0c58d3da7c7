"""The permission set follows from the adapters' calls; the Roles conditions are well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi.abi import decode
from typer.testing import CliRunner

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.safe.permissions import (
    DEV_CHAIN_CALLS,
    AdapterCall,
    argument_types,
    dev_chain_permissions,
    permission_set,
)
from adapters.chain.safe.roles import (
    Operator,
    ParameterType,
    approve_conditions,
    function_conditions,
)
from entrypoints.cli.main import app


def _address(n: int) -> str:
    return "0x" + f"{n:040x}"


BOOK = AddressBook(
    chain_id=31337,
    block=1,
    deployer=_address(1),
    tokens={s: _address(10 + i) for i, s in enumerate(("USDC", "USDT", "DAI", "WETH", "WBTC"))},
    decimals={"USDC": 6, "USDT": 6, "DAI": 18, "WETH": 18, "WBTC": 8},
    oracle=_address(20),
    aave_pool=_address(21),
    a_tokens={"USDC": _address(22), "USDT": _address(23), "DAI": _address(24)},
    curve_pool=_address(25),
    curve_lp=_address(26),
    pendle_market=_address(27),
    pendle_pt=_address(28),
    pendle_expiry=2_000_000_000,
    router=_address(29),
)


def test_every_receiver_of_every_adapter_call_is_bound_to_the_safe() -> None:
    permissions = dev_chain_permissions(BOOK)
    by_signature = {f.signature: f for f in permissions.functions}
    assert by_signature["supply(address,uint256,address,uint16)"].safe_args == (2,)
    assert by_signature["withdraw(address,uint256,address)"].safe_args == (2,)
    assert by_signature["swap(address,address,uint256,uint256,address)"].safe_args == (4,)
    for name in ("swapExactTokenForPt", "swapExactPtForToken", "redeemPyToToken"):
        assert by_signature[f"{name}(address,uint256,uint256)"].safe_args == (0,)
    assert len(permissions.functions) == len(DEV_CHAIN_CALLS)


def test_approvals_go_only_to_the_contracts_that_pull_each_token() -> None:
    approvals = {a.label: set(a.spender_labels) for a in dev_chain_permissions(BOOK).approvals}
    assert approvals == {
        "USDC": {"aave_pool", "curve_pool", "pendle_market", "router"},
        "USDT": {"aave_pool", "curve_pool", "router"},
        "DAI": {"aave_pool", "curve_pool", "router"},
        "WETH": {"router"},
        "WBTC": {"router"},
        "PT": {"pendle_market"},
    }
    # No approval of a receipt token (aTokens, 3Crv): nothing pulls them.
    tokens = {a.token for a in dev_chain_permissions(BOOK).approvals}
    assert not tokens & {*BOOK.a_tokens.values(), BOOK.curve_lp}


def test_a_receiver_argument_that_is_not_an_address_is_refused() -> None:
    bad = AdapterCall(adapter="x", contract="aave_pool", signature="f(uint256)", safe_args=(0,))
    with pytest.raises(ValueError, match="argument 0 is not an address"):
        permission_set([bad], {"aave_pool": _address(1)})


def test_function_conditions_match_calldata_with_the_receiver_equal_to_the_avatar() -> None:
    conditions = function_conditions("supply(address,uint256,address,uint16)", (2,))
    assert conditions == [
        (0, ParameterType.CALLDATA, Operator.MATCHES, b""),
        (0, ParameterType.STATIC, Operator.PASS, b""),
        (0, ParameterType.STATIC, Operator.PASS, b""),
        (0, ParameterType.STATIC, Operator.EQUAL_TO_AVATAR, b""),
        (0, ParameterType.STATIC, Operator.PASS, b""),
    ]
    assert argument_types("add_liquidity(uint256[3],uint256)") == ["uint256[3]", "uint256"]


def test_approve_conditions_are_breadth_first_with_one_equal_to_per_spender() -> None:
    spenders = [_address(7), _address(8)]
    conditions = approve_conditions(spenders)
    parents = [c[0] for c in conditions]
    assert parents == sorted(parents)  # breadth-first, as Roles' Integrity requires
    assert conditions[1][2] == Operator.OR
    equal = [c for c in conditions if c[2] == Operator.EQUAL_TO]
    assert [decode(["address"], c[3])[0] for c in equal] == [s.lower() for s in spenders]
    assert all(c[0] == 1 for c in equal)
    single = approve_conditions(spenders[:1])
    assert [c[2] for c in single] == [Operator.MATCHES, Operator.EQUAL_TO, Operator.PASS]


def test_treasury_safe_permissions_prints_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "address_book.json"
    BOOK.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["safe", "permissions", "--address-book", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    supply = next(r for r in rows if r["function"].startswith("supply("))
    assert supply["constraint"] == "argument 2 (address) = the Safe"
    assert any(r["function"] == "approve(address,uint256)" and r["target"] == "WETH" for r in rows)
    table = runner.invoke(app, ["safe", "permissions", "--address-book", str(path)])
    assert table.exit_code == 0
    assert "refused on chain" in table.output

    missing = runner.invoke(
        app, ["safe", "permissions", "--address-book", str(tmp_path / "none.json")]
    )
    assert missing.exit_code == 3
    assert "treasury devchain deploy" in missing.output
