"""Reading Coin Metrics and project CSV files into observations, and the real BTC history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.history.coinmetrics import load_history, read_coinmetrics
from adapters.market.history import HistoryFileInvalid


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_coin_metrics_file_gives_prices_and_an_expanding_window_mvrv_z(tmp_path: Path) -> None:
    # Market caps 100, 200, 300: sample stdev of the first two is 70.7107, of all three 100.
    # Day 2: (200 - 150) / 70.7107 = 0.7071; day 3: (300 - 240) / 100 = 0.6.
    path = _write(
        tmp_path / "btc.csv",
        "time,PriceUSD,CapMrktCurUSD,CapRealUSD\n"
        "2024-01-01,10,100,90\n2024-01-02,20,200,150\n2024-01-03,30,300,240\n",
    )

    days = read_coinmetrics(path)

    assert [d.price_usd for d in days] == [Decimal(10), Decimal(20), Decimal(30)]
    assert [d.mvrv_z_score for d in days] == [None, Decimal("0.7071"), Decimal("0.6000")]


def test_a_btc_file_with_an_eth_file_joins_prices_by_day_and_cuts_the_window_after_the_z(
    tmp_path: Path,
) -> None:
    btc = _write(
        tmp_path / "btc.csv",
        "time,PriceUSD,CapMrktCurUSD,CapRealUSD\n"
        "2024-01-01,10,100,90\n2024-01-02,20,200,150\n2024-01-03,30,300,240\n",
    )
    eth = _write(
        tmp_path / "eth.csv",
        "time,PriceUSD,CapMrktCurUSD,CapRealUSD\n2024-01-02,2,20,\n2024-01-03,3,30,\n",
    )

    rows = load_history(btc, eth_path=eth, start=date(2024, 1, 2))

    assert [(r.day.day, r.btc_price, r.eth_price, r.mvrv_z_score) for r in rows] == [
        (2, Decimal(20), Decimal(2), Decimal("0.7071")),
        (3, Decimal(30), Decimal(3), Decimal("0.6000")),
    ]
    assert rows[0].funding_rate is None
    assert rows[0].fear_greed is None


def test_a_project_csv_is_read_with_unknown_cells_as_none(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "history.csv",
        "date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed\n"
        "2024-01-01,40000,,1.5,,\n2024-01-02,41000,2500,1.6,0.0001,60\n",
    )

    rows = load_history(path)

    assert rows[0].eth_price is None
    assert rows[0].fear_greed is None
    assert rows[1].fear_greed == 60
    assert rows[1].funding_rate == Decimal("0.0001")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("a,b\n1,2\n", "unknown format", id="unknown-header"),
        pytest.param(
            "time,PriceUSD,CapMrktCurUSD,CapRealUSD\n2024-01-01,x,100,90\n2024-01-02,1,1,1\n",
            "PriceUSD 'x' is not a number",
            id="bad-number",
        ),
        pytest.param(
            "time,PriceUSD,CapMrktCurUSD,CapRealUSD\n2024-01-02,1,100,90\n2024-01-01,1,1,1\n",
            "ascending",
            id="out-of-order",
        ),
    ],
)
def test_a_bad_history_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = _write(tmp_path / "bad.csv", text)

    with pytest.raises(HistoryFileInvalid) as caught:
        load_history(path)

    assert fragment in str(caught.value)
    assert "bad.csv" in str(caught.value)


def test_a_missing_history_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileInvalid, match="cannot be read"):
        load_history(tmp_path / "nope.csv")


def test_the_real_btc_history_matches_its_readme_z_scores(real_history: Path) -> None:
    rows = {r.day: r for r in load_history(real_history)}

    assert rows[date(2017, 12, 17)].mvrv_z_score == Decimal("8.7968")  # README: 8.80
    assert rows[date(2021, 11, 10)].mvrv_z_score == Decimal("3.2981")  # README: 3.30
    assert len(rows) == 5_885
