"""The daily history CSV reader and the replay market."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.market.history import (
    HistoryFileInvalid,
    ReplayMarket,
    parse_history,
    read_history_csv,
    write_history_csv,
)
from adapters.market.simulated import Scenario, SimulatedMarket
from application.errors import MarketDataUnavailable
from application.ports.market import MarketDataSource, SourceStatus
from domain.market import MarketField, MarketPhase
from tests.contracts.market import MarketDataContract
from tests.fakes.market import MovableClock

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
HEADER = "date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed\n"
GOOD = (
    HEADER
    + "2024-03-01,61234.50,3400.10,2.91,0.00031,79\n"
    + "2024-03-02,62011.00,3450.00,2.95,,82\n"
    + "2024-03-03,49608.80,2760.00,1.40,-0.00020,18\n"
)


def write(tmp_path: Path, text: str, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestReplayMarketContract(MarketDataContract):
    @pytest.fixture
    def market(self, tmp_path: Path) -> MarketDataSource:
        return ReplayMarket.from_csv(write(tmp_path, GOOD), clock=MovableClock(T0))


def test_reads_rows_with_decimals_and_empty_cells_as_unknown(tmp_path: Path) -> None:
    rows = read_history_csv(write(tmp_path, GOOD))
    assert [r.day for r in rows] == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    assert rows[0].btc_price == Decimal("61234.50")
    assert rows[0].funding_rate == Decimal("0.00031")
    assert rows[1].funding_rate is None
    assert rows[2].fear_greed == 18


def test_column_order_is_free_and_extra_columns_are_ignored() -> None:
    text = "fear_greed,date,note,btc_price\n40,2024-01-05,hello,44000\n"
    rows = parse_history(text.splitlines(keepends=True), "x.csv")
    assert rows[0].btc_price == Decimal(44000)
    assert rows[0].eth_price is None
    assert rows[0].fear_greed == 40


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param("2024-03-04,abc,1,1,0,50", "btc_price 'abc' is not a number", id="text-price"),
        pytest.param("2024-03-04,,1,1,0,50", "btc_price is empty", id="missing-btc"),
        pytest.param("2024-03-04,-5,1,1,0,50", "btc_price", id="negative-price"),
        pytest.param("04/03/2024,60000,1,1,0,50", "not an ISO date", id="us-date"),
        pytest.param("2024-03-04,60000,1,1,0,101", "101", id="fear-greed-over-100"),
        pytest.param("2024-03-04,60000,1,1,0,4.5", "not a whole number", id="fractional-fng"),
        pytest.param("2024-03-04,60000,1,NaN,0,50", "not a finite number", id="nan-mvrv"),
        pytest.param("2024-03-02,60000,1,1,0,50", "does not follow 2024-03-03", id="out-of-order"),
    ],
)
def test_a_bad_row_is_reported_with_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, GOOD + row + "\n")
    with pytest.raises(HistoryFileInvalid, match=message) as caught:
        read_history_csv(path)
    assert caught.value.line == 5
    assert str(caught.value).startswith(f"{path}:5: ")


def test_a_missing_required_column_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "date,eth_price\n2024-01-01,3000\n")
    with pytest.raises(HistoryFileInvalid, match=r"missing column.*btc_price"):
        read_history_csv(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty file", id="empty"),
        pytest.param(HEADER, "no rows", id="header-only"),
    ],
)
def test_empty_files_are_reported(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HistoryFileInvalid, match=message):
        read_history_csv(write(tmp_path, text))


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileInvalid, match=r"nope\.csv: cannot read"):
        read_history_csv(tmp_path / "nope.csv")


def test_a_simulated_path_written_as_csv_reads_back_identically(tmp_path: Path) -> None:
    rows = SimulatedMarket(clock=MovableClock(T0), scenario=Scenario.CRASH, seed=5).history(90)
    path = write_history_csv(rows, tmp_path / "crash.csv")
    assert read_history_csv(path) == list(rows)


async def test_replay_serves_one_row_per_simulated_day_with_24h_changes(tmp_path: Path) -> None:
    clock = MovableClock(T0)
    replay = ReplayMarket.from_csv(write(tmp_path, GOOD), clock=clock, seconds_per_day=60)
    first = await replay.fetch()
    assert first.btc_price == Decimal("61234.50")
    assert first.btc_change_24h is None
    assert first.market_phase is MarketPhase.EUPHORIA
    clock.advance(120)
    crash = await replay.fetch()
    assert crash.btc_price == Decimal("49608.80")
    assert crash.btc_change_24h == Decimal("49608.80") / Decimal("62011.00") - 1
    assert crash.market_phase is MarketPhase.BEAR
    assert replay.current_prices() == {"BTC": Decimal("49608.80"), "ETH": Decimal("2760.00")}
    assert crash.freshness[MarketField.BTC_PRICE].source == "replay:history.csv"


async def test_replay_fields_missing_from_a_row_are_missing_from_the_data(tmp_path: Path) -> None:
    replay = ReplayMarket.from_csv(write(tmp_path, GOOD), clock=MovableClock(T0))
    replay.advance(1)
    data = await replay.fetch()
    assert data.funding_rate is None
    assert MarketField.FUNDING_RATE not in data.freshness


async def test_past_the_last_row_the_replay_fails_and_reports_down(tmp_path: Path) -> None:
    replay = ReplayMarket.from_csv(write(tmp_path, GOOD), clock=MovableClock(T0))
    replay.advance(3)
    with pytest.raises(MarketDataUnavailable, match="history ended on 2024-03-03"):
        await replay.fetch()
    (health,) = await replay.health()
    assert health.status is SourceStatus.DOWN
    assert health.last_error is not None
