"""The persistence contract: one suite every UnitOfWork implementation must pass.

Subclasses provide two fixtures: `uow_factory` (a UnitOfWorkFactory over an empty, migrated
store) and `tamper_audit` (an async callable that edits an audit row's payload behind the
application's back, as someone with raw database access could).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from application.errors import ConcurrencyConflict, NotFound
from application.ports.persistence import (
    EMERGENCY_STOP,
    DecisionOutcome,
    OperatorFlag,
    UnitOfWorkFactory,
)
from domain.allocation import Bucket, TargetAllocations
from domain.budget import BreakerState, SlippageBudgetState
from domain.decisions import Decision, DecisionKind, DecisionStatus
from domain.execution import ExecutedTransaction, StepStatus
from domain.market import Freshness, MarketData, MarketField, MarketPhase
from domain.performance import EquityPoint
from domain.plans import PlanKind, RebalancingPlan, SkippedMove, Transaction, TransactionType
from domain.portfolio import PortfolioState, Position
from domain.signals import AllocationMode, AllocationSignal, RiskLevel
from domain.tactical import RatchetState

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
TARGETS = TargetAllocations(base_yield=D("0.6"), tactical=D("0.24"), cash=D("0.16"))
# 28 significant digits (the Decimal context's precision, so sums stay exact), 18 decimals.
EXACT = D("1234567890.123456789012345678")
# 20 integer digits and 18 decimals: the most NUMERIC(38, 18) holds, and no float could.
WIDEST = D("12345678901234567890.123456789012345678")

Tamper = Callable[[int], Awaitable[None]]


def make_signal(at: datetime = T0, confidence: str = "0.8123") -> AllocationSignal:
    """A realistic euphoria-phase signal."""
    return AllocationSignal(
        mode=AllocationMode.TACTICAL,
        target_allocations=TARGETS,
        confidence=D(confidence),
        reasoning="MVRV Z 4.2 puts the market in euphoria. Sold 25% (ratchet).",
        trigger="MVRV Z 4.2 crossed 3.5",
        recommended_actions=("Hold base yield at 60.0%", "Sell 25.0% of tactical exposure"),
        risk_level=RiskLevel.MEDIUM,
        market_phase=MarketPhase.EUPHORIA,
        tactical_exposure=D("0.45"),
        created_at=at,
        threshold_crossed=True,
    )


def make_decision(decision_id: str = "dec-1", at: datetime = T0) -> Decision:
    """A pending decision waiting for approval."""
    return Decision(
        id=decision_id,
        created_at=at,
        signal=make_signal(at),
        advisor="claude",
        target_allocations=TARGETS,
        reasoning="Trim BTC into strength; keep the base sleeve.",
        risk_assessment=RiskLevel.MEDIUM,
        status=DecisionStatus.PENDING,
        kind=DecisionKind.REBALANCE,
        plan_id="plan-1",
        verdict_reasons=("largest move $64,000.00 exceeds approval threshold $50,000",),
        expires_at=at + timedelta(hours=24),
        model="claude-sonnet-4-5",
    )


def make_plan(plan_id: str = "plan-1", at: datetime = T0) -> RebalancingPlan:
    """A two-step plan: sell WBTC, deposit USDC in Aave."""
    return RebalancingPlan(
        plan_id=plan_id,
        created_at=at,
        current_allocations={
            Bucket.BASE_YIELD: D("0.55"),
            Bucket.TACTICAL: D("0.40"),
            Bucket.CASH: D("0.05"),
        },
        target_allocations=TARGETS,
        required_transactions=(
            Transaction(
                tx_type=TransactionType.SWAP,
                protocol="oneinch",
                from_asset="WBTC",
                to_asset="USDC",
                amount=D("1.06666667"),
                amount_usd=D("64000.0002"),
                estimated_gas=180_000,
                estimated_gas_usd=D("10.80"),
                estimated_slippage_usd=D("192.00"),
                slippage_tolerance=D("0.005"),
            ),
            Transaction(
                tx_type=TransactionType.DEPOSIT,
                protocol="aave",
                from_asset="USDC",
                to_asset="USDC",
                amount=D("20000"),
                amount_usd=D("20000"),
                estimated_gas=250_000,
                estimated_gas_usd=D("15"),
                estimated_slippage_usd=D(0),
                slippage_tolerance=D("0.001"),
                full_exit=False,
            ),
        ),
        estimated_gas_cost=D("25.80"),
        estimated_slippage=D("192.00"),
        requires_approval=True,
        risk_level=RiskLevel.MEDIUM,
        kind=PlanKind.REBALANCE,
        max_slippage=D("0.01"),
        skipped=(SkippedMove(description="deposit 40 USDC to curve", reason="below minimum"),),
        notes=("gas 20 gwei",),
        approval_reasons=("largest move exceeds $50,000",),
    )


def make_step(
    tx_id: str,
    step: int,
    status: StepStatus,
    at: datetime = T0,
    tx_hash: str | None = None,
) -> ExecutedTransaction:
    """An executed step of plan-1."""
    return ExecutedTransaction(
        id=tx_id,
        plan_id="plan-1",
        step_index=step,
        chain_id=1,
        kind="swap",
        description="swap 1.0667 WBTC -> USDC via oneinch",
        status=status,
        amount_usd=D("64000.0002"),
        created_at=at,
        updated_at=at,
        to_address="0x1111111254EEB25477B68fb85Ed929f73A960582",
        from_address="0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        nonce=7 + step,
        tx_hash=tx_hash,
        gas_estimated=180_000,
    )


def make_position(protocol: str, asset: str, value: str, chain: str = "ethereum") -> Position:
    """A position worth `value` USD."""
    return Position(
        protocol=protocol,
        asset=asset,
        amount=D(value),
        value_usd=D(value),
        apy=D("0.052"),
        entered_at=T0 - timedelta(days=30),
        current_return=D("0.0041"),
        chain=chain,
        cost_basis_usd=D(value),
    )


def make_state(at: datetime = T0, cash: str = "64000") -> PortfolioState:
    """A built portfolio state (totals and allocations computed)."""
    positions = (
        make_position("aave", "USDC", "120000.123456789012345678"),
        make_position("curve", "3CRV", "96000"),
        Position(
            protocol="wallet",
            asset="WBTC",
            amount=D("2.5"),
            value_usd=D("150000"),
            apy=D(0),
            entered_at=T0 - timedelta(days=90),
        ),
    )
    return replace(
        PortfolioState.build(
            positions=positions,
            cash_balance=D(cash),
            target=TARGETS,
            last_rebalance=at - timedelta(days=2),
            as_of=at,
            performance=(D("0.0012"), D("-0.0153"), None),
        ),
        extra={"note": "nightly"},
    )


def make_market(at: datetime = T0, btc: str = "60000.5") -> MarketData:
    """Market data with one stale field."""
    return MarketData(
        btc_price=D(btc),
        eth_price=D("3000.25"),
        mvrv_z_score=D("4.2"),
        funding_rate=D("0.000125"),
        fear_greed_index=71,
        market_phase=MarketPhase.EUPHORIA,
        timestamp=at,
        btc_change_24h=D("-0.031"),
        eth_change_24h=None,
        stablecoin_prices={"USDC": D("0.9998"), "DAI": D("1.0001")},
        btc_implied_volatility=D("52.37"),
        eth_implied_volatility=D("68.1"),
        btc_iv_change_24h=D("0.4125"),
        eth_iv_change_24h=None,
        put_call_ratio=D("0.6218"),
        freshness={
            MarketField.BTC_PRICE: Freshness(source="coingecko", observed_at=at),
            MarketField.PUT_CALL_RATIO: Freshness(source="deribit", observed_at=at),
            MarketField.MVRV_Z_SCORE: Freshness(
                source="glassnode",
                observed_at=at - timedelta(hours=3),
                stale=True,
                age_seconds=D(10800),
            ),
        },
    )


class UnitOfWorkContract:
    """Behaviour every UnitOfWork (in-memory, SQLite, PostgreSQL) shares."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        """Overridden by each backend."""
        raise NotImplementedError

    @pytest.fixture
    def tamper_audit(self) -> Tamper:
        """Overridden by each backend."""
        raise NotImplementedError

    # --- transactions --------------------------------------------------------------------

    async def test_nothing_is_kept_without_a_commit(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            await uow.audit.append("cycle", "decision.created", "decision", "dec-1", {})
        async with uow_factory() as uow:
            assert await uow.decisions.find("dec-1") is None
            assert await uow.audit.tail() == []

    async def test_a_failure_inside_the_unit_discards_the_change_and_its_audit_entry(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async def fail_midway() -> None:
            async with uow_factory() as uow:
                await uow.decisions.add(make_decision())
                await uow.audit.append("cycle", "decision.created", "decision", "dec-1", {})
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await fail_midway()
        async with uow_factory() as uow:
            assert await uow.decisions.find("dec-1") is None
            assert await uow.audit.tail() == []

    async def test_committed_changes_are_visible_to_the_next_unit(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            entry = await uow.audit.append(
                "cycle", "decision.created", "decision", "dec-1", {"usd": D("64000.00")}
            )
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.decisions.get("dec-1") == make_decision()
            assert await uow.audit.tail() == [entry]

    async def test_rollback_discards_only_what_came_after_the_last_commit(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision("dec-1"))
            await uow.commit()
            await uow.decisions.add(make_decision("dec-2"))
            await uow.rollback()
            assert await uow.decisions.find("dec-2") is None
            assert await uow.decisions.find("dec-1") is not None

    # --- decisions -----------------------------------------------------------------------

    async def test_a_missing_decision_is_not_found(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            with pytest.raises(NotFound):
                await uow.decisions.get("nope")
            with pytest.raises(NotFound):
                await uow.decisions.update(make_decision("nope").approve("ana", None, T0))

    async def test_adding_a_decision_twice_is_a_conflict(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            await uow.commit()
        async with uow_factory() as uow:
            with pytest.raises(ConcurrencyConflict):
                await uow.decisions.add(make_decision())

    async def test_an_approval_is_stored_with_its_new_version(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            await uow.commit()
        async with uow_factory() as uow:
            pending = await uow.decisions.get("dec-1")
            await uow.decisions.update(pending.approve("ana", "ok", T0 + timedelta(hours=1)))
            await uow.commit()
        async with uow_factory() as uow:
            stored = await uow.decisions.get("dec-1")
            assert stored.status is DecisionStatus.APPROVED
            assert stored.approver == "ana"
            assert stored.version == 1
            assert await uow.decisions.list_by_status(DecisionStatus.PENDING) == []

    async def test_a_change_made_from_a_stale_copy_is_a_conflict(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            await uow.commit()
        stale = make_decision()
        async with uow_factory() as uow:
            await uow.decisions.update(stale.approve("ana", None, T0))
            await uow.commit()
        async with uow_factory() as uow:
            with pytest.raises(ConcurrencyConflict):
                await uow.decisions.update(stale.reject("bob", "no", T0))

    async def test_two_concurrent_approvals_end_with_exactly_one_approved(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.decisions.add(make_decision())
            await uow.commit()
        seen = make_decision()  # both operators loaded the same pending decision

        async def approve(who: str) -> str:
            async with uow_factory() as uow:
                await uow.decisions.update(seen.approve(who, None, T0))
                await uow.audit.append(who, "decision.approved", "decision", seen.id, {})
                await uow.commit()
            return who

        results = await asyncio.gather(approve("ana"), approve("bob"), return_exceptions=True)
        winners = [r for r in results if isinstance(r, str)]
        conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1
        assert len(conflicts) == 1
        async with uow_factory() as uow:
            stored = await uow.decisions.get("dec-1")
            assert stored.approver == winners[0]
            assert stored.version == 1
            assert [e.actor for e in await uow.audit.tail()] == winners

    async def test_decisions_are_listed_by_status_oldest_first_and_recent_newest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            for i in range(3):
                await uow.decisions.add(make_decision(f"dec-{i}", T0 + timedelta(minutes=i)))
            await uow.commit()
        async with uow_factory() as uow:
            pending = await uow.decisions.list_by_status(DecisionStatus.PENDING, limit=2)
            recent = await uow.decisions.recent(limit=3)
        assert [d.id for d in pending] == ["dec-0", "dec-1"]
        assert [d.id for d in recent] == ["dec-2", "dec-1", "dec-0"]

    async def test_decisions_created_in_a_window_are_listed_newest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            for i in range(5):
                await uow.decisions.add(make_decision(f"dec-{i}", T0 + timedelta(hours=i)))
            await uow.commit()
        async with uow_factory() as uow:
            inside = await uow.decisions.created_between(
                T0 + timedelta(hours=1), T0 + timedelta(hours=3)
            )
            capped = await uow.decisions.created_between(T0, T0 + timedelta(hours=4), limit=2)
        assert [d.id for d in inside] == ["dec-3", "dec-2", "dec-1"]  # both ends included
        assert [d.id for d in capped] == ["dec-4", "dec-3"]

    # --- plans and executions ------------------------------------------------------------

    async def test_a_plan_reads_back_with_its_transactions_in_order(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.plans.add(make_plan(), decision_id="dec-1")
            await uow.plans.add(make_plan("plan-2", T0 + timedelta(minutes=5)), "dec-1")
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.plans.get("plan-1") == make_plan()
            assert [p.plan_id for p in await uow.plans.for_decision("dec-1")] == [
                "plan-1",
                "plan-2",
            ]
            assert await uow.plans.find("plan-9") is None
            with pytest.raises(NotFound):
                await uow.plans.get("plan-9")
            with pytest.raises(ConcurrencyConflict):
                await uow.plans.add(make_plan())

    async def test_a_roll_plan_reads_back_with_the_market_each_move_trades(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        moves = tuple(
            Transaction(
                tx_type=kind,
                protocol="pendle",
                from_asset=src,
                to_asset=dst,
                amount=D("72000"),
                amount_usd=D("72000"),
                estimated_gas=250_000,
                estimated_gas_usd=D("15"),
                estimated_slippage_usd=D(0),
                slippage_tolerance=D("0.005"),
                full_exit=kind is TransactionType.WITHDRAW,
                market=market,
            )
            for kind, src, dst, market in (
                (TransactionType.WITHDRAW, "PT-USDC", "USDC", "0x" + "ab" * 20),
                (TransactionType.DEPOSIT, "USDC", "PT-USDC", "0x" + "cd" * 20),
            )
        )
        roll = replace(make_plan("plan-roll"), required_transactions=moves)
        async with uow_factory() as uow:
            await uow.plans.add(roll, decision_id="dec-roll")
            await uow.commit()
        async with uow_factory() as uow:
            read = await uow.plans.get("plan-roll")
        assert [t.market for t in read.required_transactions] == [m.market for m in moves]
        assert read == roll

    async def test_executed_steps_are_found_by_plan_hash_and_unfinished_status(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        tx_hash = "0xAbC" + "1" * 61
        async with uow_factory() as uow:
            await uow.executions.add(make_step("tx-2", 1, StepStatus.PLANNED, T0))
            await uow.executions.add(
                make_step("tx-1", 0, StepStatus.BROADCAST, T0 - timedelta(minutes=1), tx_hash)
            )
            await uow.commit()
        async with uow_factory() as uow:
            assert [t.id for t in await uow.executions.by_plan("plan-1")] == ["tx-1", "tx-2"]
            assert [t.id for t in await uow.executions.unfinished()] == ["tx-1", "tx-2"]
            found = await uow.executions.by_hash(tx_hash.lower())
            assert found == make_step(
                "tx-1", 0, StepStatus.BROADCAST, T0 - timedelta(minutes=1), tx_hash
            )
            assert await uow.executions.by_hash("0x" + "f" * 64) is None

    async def test_a_confirmed_step_keeps_its_receipt_and_leaves_the_unfinished_list(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        step = make_step("tx-1", 0, StepStatus.BROADCAST, T0, "0x" + "a" * 64)
        async with uow_factory() as uow:
            await uow.executions.add(step)
            await uow.commit()
        done = step.advance(
            StepStatus.CONFIRMED,
            T0 + timedelta(minutes=2),
            gas_used=151_234,
            effective_gas_price_wei=21_500_000_000,
            gas_cost_usd=D("9.754593"),
            block_number=19_876_543,
        )
        async with uow_factory() as uow:
            await uow.executions.update(done)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.executions.get("tx-1") == done
            assert await uow.executions.unfinished() == []
            with pytest.raises(NotFound):
                await uow.executions.update(replace(done, id="tx-9"))
            with pytest.raises(NotFound):
                await uow.executions.get("tx-9")
            with pytest.raises(ConcurrencyConflict):
                await uow.executions.add(step)

    async def test_trades_sent_are_counted_per_utc_day(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        day = date(2026, 3, 1)
        midnight = datetime(2026, 3, 1, tzinfo=UTC)
        async with uow_factory() as uow:
            await uow.executions.add(make_step("a", 0, StepStatus.CONFIRMED, midnight))
            await uow.executions.add(
                make_step("b", 1, StepStatus.BROADCAST, midnight + timedelta(hours=23, minutes=59))
            )
            await uow.executions.add(make_step("c", 2, StepStatus.FAILED, midnight))
            await uow.executions.add(make_step("d", 3, StepStatus.PLANNED, midnight))
            await uow.executions.add(
                make_step("e", 4, StepStatus.CONFIRMED, midnight + timedelta(days=1))
            )
            # A token approval is a transaction but not a trade.
            approval = replace(make_step("f", 5, StepStatus.CONFIRMED, midnight), kind="approve")
            await uow.executions.add(approval)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.executions.count_sent_on(day) == 2
            assert await uow.executions.count_sent_on(date(2026, 3, 2)) == 1

    async def test_recent_steps_come_newest_first(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            for index in range(3):
                at = T0 + timedelta(minutes=index)
                await uow.executions.add(make_step(f"tx-{index}", index, StepStatus.CONFIRMED, at))
            await uow.commit()
        async with uow_factory() as uow:
            assert [x.id for x in await uow.executions.recent(2)] == ["tx-2", "tx-1"]

    # --- portfolio, market data, signals -------------------------------------------------

    async def test_a_snapshot_reads_back_exactly(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.snapshots.add(make_state(T0, cash=str(EXACT)))
            await uow.commit()
        async with uow_factory() as uow:
            latest = await uow.snapshots.latest()
        assert latest == make_state(T0, cash=str(EXACT))
        assert latest is not None
        assert latest.cash_balance == EXACT
        assert isinstance(latest.total_value_usd, Decimal)

    async def test_snapshots_are_listed_by_time_and_need_a_time(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            for hours in (2, 0, 1):
                await uow.snapshots.add(make_state(T0 + timedelta(hours=hours)))
            with pytest.raises(ValueError, match="as_of"):
                await uow.snapshots.add(replace(make_state(), as_of=None))
            await uow.commit()
        async with uow_factory() as uow:
            window = await uow.snapshots.between(T0, T0 + timedelta(hours=1))
            latest = await uow.snapshots.latest()
        assert [s.as_of for s in window] == [T0, T0 + timedelta(hours=1)]
        assert latest is not None
        assert latest.as_of == T0 + timedelta(hours=2)

    async def test_equity_points_are_each_snapshots_value_and_flow_by_time(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            for hours, cash, flow in ((2, "1", "0"), (0, "64000.5", "100"), (1, "7", "-5.25")):
                state = make_state(T0 + timedelta(hours=hours), cash=cash)
                await uow.snapshots.add(replace(state, net_flow_usd=D(flow)))
            await uow.commit()
        async with uow_factory() as uow:
            points = await uow.snapshots.equity_between(T0, T0 + timedelta(hours=1))
            window = await uow.snapshots.between(T0, T0 + timedelta(hours=1))
        assert [p.at for p in points] == [T0, T0 + timedelta(hours=1)]
        assert points == [
            EquityPoint(at=s.as_of, value_usd=s.total_value_usd, net_flow_usd=s.net_flow_usd)
            for s in window
            if s.as_of is not None
        ]
        assert points[1].net_flow_usd == D("-5.25")

    async def test_current_positions_are_replaced_as_a_whole(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.positions.replace_all(
                [make_position("curve", "3CRV", "10"), make_position("aave", "USDC", "20")]
            )
            await uow.commit()
        async with uow_factory() as uow:
            await uow.positions.replace_all([make_position("aave", "USDC", str(WIDEST))])
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.positions.list_all() == [make_position("aave", "USDC", str(WIDEST))]
            with pytest.raises(ValueError, match="appears once"):
                await uow.positions.replace_all(
                    [make_position("aave", "USDC", "1"), make_position("aave", "USDC", "2")]
                )

    async def test_market_history_keeps_freshness_stablecoin_prices_and_options_fields(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.market_data.add(make_market(T0 + timedelta(minutes=5), btc="61000"))
            await uow.market_data.add(make_market(T0))
            await uow.commit()
        async with uow_factory() as uow:
            history = await uow.market_data.between(T0, T0 + timedelta(minutes=5))
            latest = await uow.market_data.latest()
        assert history == [make_market(T0), make_market(T0 + timedelta(minutes=5), btc="61000")]
        assert latest == make_market(T0 + timedelta(minutes=5), btc="61000")
        assert latest.stale_fields() == (MarketField.MVRV_Z_SCORE,)

    async def test_signals_read_back_in_time_order(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            assert await uow.signals.latest() is None
            await uow.signals.add(make_signal(T0 + timedelta(hours=1), "0.5"))
            await uow.signals.add(make_signal(T0))
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.signals.between(T0, T0 + timedelta(hours=1)) == [
                make_signal(T0),
                make_signal(T0 + timedelta(hours=1), "0.5"),
            ]
            assert await uow.signals.latest() == make_signal(T0 + timedelta(hours=1), "0.5")

    # --- strategy state, flags, manual MVRV, outcomes ------------------------------------

    async def test_strategy_state_starts_fresh_and_keeps_what_was_saved(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        ratchet = RatchetState(
            sold_fraction=D("0.25"),
            last_mvrv_z_score=D("4.2"),
            last_phase=MarketPhase.EUPHORIA,
            updated_at=T0,
        )
        async with uow_factory() as uow:
            assert await uow.strategy.ratchet() == RatchetState()
            assert await uow.strategy.slippage_budget() == SlippageBudgetState()
            assert await uow.strategy.breaker() == BreakerState()
            await uow.strategy.save_ratchet(ratchet)
            await uow.strategy.save_slippage_budget(
                SlippageBudgetState(used_usd=D("812.345678"), as_of=T0)
            )
            await uow.strategy.save_breaker(BreakerState(consecutive_failures=2))
            await uow.commit()
        async with uow_factory() as uow:
            await uow.strategy.save_ratchet(replace(ratchet, sold_fraction=D("0.5")))
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.strategy.ratchet() == replace(ratchet, sold_fraction=D("0.5"))
            assert await uow.strategy.slippage_budget() == SlippageBudgetState(
                used_usd=D("812.345678"), as_of=T0
            )
            assert await uow.strategy.breaker() == BreakerState(consecutive_failures=2)

    async def test_the_last_exit_time_is_kept_with_the_strategy_state_and_can_be_cleared(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        exited = RatchetState(sold_fraction=D("0.5"), updated_at=T0, last_exit_at=T0)
        async with uow_factory() as uow:
            await uow.strategy.save_ratchet(exited)
            await uow.commit()
        async with uow_factory() as uow:
            assert (await uow.strategy.ratchet()).last_exit_at == T0
            await uow.strategy.save_ratchet(replace(exited, last_exit_at=None))
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.strategy.ratchet() == replace(exited, last_exit_at=None)

    async def test_the_emergency_stop_remembers_who_set_it_and_why(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        on = OperatorFlag(
            name=EMERGENCY_STOP, active=True, set_by="ana", reason="oracle incident", set_at=T0
        )
        async with uow_factory() as uow:
            assert not await uow.flags.is_active(EMERGENCY_STOP)
            assert await uow.flags.get(EMERGENCY_STOP) is None
            await uow.flags.set(on)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.flags.is_active(EMERGENCY_STOP)
            assert await uow.flags.get(EMERGENCY_STOP) == on
            off = replace(on, active=False, set_by="bob", reason="resolved", set_at=T0)
            await uow.flags.set(off)
            await uow.commit()
        async with uow_factory() as uow:
            assert not await uow.flags.is_active(EMERGENCY_STOP)
            assert await uow.flags.get(EMERGENCY_STOP) == off

    async def test_the_latest_manual_mvrv_by_time_wins(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            assert await uow.manual_mvrv.get_manual_mvrv() is None
            await uow.manual_mvrv.set_manual_mvrv(D("3.91"), T0 + timedelta(hours=1), "ana")
            await uow.manual_mvrv.set_manual_mvrv(D("3.5"), T0, "bob")
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.manual_mvrv.get_manual_mvrv() == (D("3.91"), T0 + timedelta(hours=1))
            latest = await uow.manual_mvrv.latest()
        assert latest is not None
        assert latest.set_by == "ana"

    async def test_decision_outcomes_are_kept_per_horizon_and_replaced_when_remeasured(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        week = DecisionOutcome(
            decision_id="dec-1",
            horizon_days=7,
            portfolio_return=D("0.0213"),
            hold_return=D("0.0150"),
            measured_at=T0 + timedelta(days=7),
        )
        day = replace(week, horizon_days=1, measured_at=T0 + timedelta(days=1))
        async with uow_factory() as uow:
            await uow.outcomes.record(week)
            await uow.outcomes.record(day)
            await uow.outcomes.record(replace(week, portfolio_return=D("0.0199")))
            await uow.commit()
        async with uow_factory() as uow:
            outcomes = await uow.outcomes.for_decision("dec-1")
            recent = await uow.outcomes.recent(limit=1)
        assert outcomes == [day, replace(week, portfolio_return=D("0.0199"))]
        assert outcomes[1].excess_return == D("0.0049")
        assert [o.horizon_days for o in recent] == [7]

    # --- audit log -----------------------------------------------------------------------

    async def test_audit_entries_form_a_verifiable_chain(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            first = await uow.audit.append(
                "cycle", "decision.created", "decision", "dec-1", {"usd": D("64000.00")}, at=T0
            )
            await uow.commit()
        async with uow_factory() as uow:
            second = await uow.audit.append("ana", "decision.approved", "decision", "dec-1", {})
            await uow.audit.append("cycle", "plan.created", "plan", "plan-1", {"steps": 2})
            await uow.commit()
        async with uow_factory() as uow:
            assert second.prev_hash == first.hash
            assert [e.seq for e in await uow.audit.entries()] == [1, 2, 3]
            assert [e.seq for e in await uow.audit.entries(after_seq=1, limit=1)] == [2]
            assert [e.seq for e in await uow.audit.tail(2)] == [2, 3]
            assert [e.action for e in await uow.audit.for_subject("decision", "dec-1")] == [
                "decision.created",
                "decision.approved",
            ]
            assert (await uow.audit.entries())[0] == first
            assert await uow.audit.verify() is None

    async def test_an_audit_row_edited_behind_the_applications_back_fails_verification(
        self, uow_factory: UnitOfWorkFactory, tamper_audit: Tamper
    ) -> None:
        async with uow_factory() as uow:
            for i in range(4):
                await uow.audit.append("cycle", "step", "plan", "plan-1", {"i": i})
            await uow.commit()
        await tamper_audit(3)
        async with uow_factory() as uow:
            assert await uow.audit.verify() == 3

    async def test_an_audit_payload_with_a_float_is_refused(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            with pytest.raises(ValueError, match="float"):
                await uow.audit.append("cycle", "x", "plan", "p", {"usd": 1.5})

    async def test_concurrent_audit_writers_extend_one_chain(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async def write(i: int) -> None:
            async with uow_factory() as uow:
                await uow.audit.append(f"writer-{i}", "ping", "test", str(i), {"i": i})
                await uow.commit()

        await asyncio.gather(*(write(i) for i in range(8)))
        async with uow_factory() as uow:
            entries = await uow.audit.entries()
            assert [e.seq for e in entries] == list(range(1, 9))
            assert {e.actor for e in entries} == {f"writer-{i}" for i in range(8)}
            assert await uow.audit.verify() is None
