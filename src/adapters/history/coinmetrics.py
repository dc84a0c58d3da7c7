"""Daily history from CSV files: Coin Metrics' community format and the project's own format.

Coin Metrics' community CSVs hold one asset per file with `time`, `PriceUSD`,
`CapMrktCurUSD` and `CapRealUSD`. The MVRV Z-score is derived as

    Z(t) = (CapMrktCurUSD(t) - CapRealUSD(t)) / stdev(CapMrktCurUSD(t0 .. t))

with the *expanding* sample standard deviation from the first day that has a realised cap up
to and including day t, so a day's Z never uses later market caps. Z is dated on its own day;
the backtester applies the one-day publication lag (`BacktestConfig.mvrv_lag_days`), so the
lag is applied once whichever format the history came in.

The project's format (`date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed`) is read
by `adapters.market.history.read_history_csv`; `load_history` tells the two apart by header.

Numbers are parsed as Decimal, never float.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

from adapters.market.history import HistoryFileInvalid, read_history_csv
from domain.history import DailyObservation

COINMETRICS_COLUMNS = ("time", "PriceUSD", "CapMrktCurUSD", "CapRealUSD")
PROJECT_COLUMNS = ("date", "btc_price", "eth_price", "mvrv_z_score", "funding_rate", "fear_greed")
Z_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetDay:
    """One row of a Coin Metrics file, with the MVRV Z derived from it (None when unknown)."""

    day: date
    price_usd: Decimal
    mvrv_z_score: Decimal | None


def _decimal(text: str, column: str, line: int, path: Path) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise HistoryFileInvalid(path, f"line {line}: {column} {text!r} is not a number") from exc
    if not value.is_finite():
        raise HistoryFileInvalid(path, f"line {line}: {column} {text!r} is not finite")
    return value


def _day(text: str, line: int, path: Path) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError as exc:
        raise HistoryFileInvalid(path, f"line {line}: {text!r} is not a YYYY-MM-DD day") from exc


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except OSError as exc:
        raise HistoryFileInvalid(path, f"cannot be read ({exc.strerror or exc})") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise HistoryFileInvalid(path, f"is not a UTF-8 CSV ({exc})") from exc
    if not rows:
        raise HistoryFileInvalid(path, "has no rows")
    return header, rows


def mvrv_z_scores(
    market_caps: Sequence[Decimal], realised_caps: Sequence[Decimal | None]
) -> list[Decimal | None]:
    """MVRV Z per day with the expanding sample standard deviation of market cap.

    The expanding window starts at the first day with a realised cap; a day without one, or
    with fewer than two market caps in the window, has no Z.
    """
    scores: list[Decimal | None] = []
    count = 0
    mean = Decimal(0)
    m2 = Decimal(0)
    started = False
    with localcontext() as ctx:
        ctx.prec = 50
        for cap, realised in zip(market_caps, realised_caps, strict=True):
            started = started or realised is not None
            if not started:
                scores.append(None)
                continue
            # Welford's update: exact enough at 50 digits, and one pass over the history.
            count += 1
            delta = cap - mean
            mean += delta / count
            m2 += delta * (cap - mean)
            if realised is None or count < 2 or m2 <= 0:
                scores.append(None)
                continue
            stdev = (m2 / (count - 1)).sqrt()
            scores.append(((cap - realised) / stdev).quantize(Z_PLACES))
    return scores


def read_coinmetrics(path: Path) -> list[AssetDay]:
    """Read one asset's Coin Metrics community CSV and derive its MVRV Z-score.

    Raises:
        HistoryFileInvalid: the file is missing, lacks a column, or has a bad row.
    """
    header, rows = _rows(path)
    missing = [c for c in COINMETRICS_COLUMNS if c not in header]
    if missing:
        raise HistoryFileInvalid(path, f"missing Coin Metrics columns {missing}")
    days: list[date] = []
    prices: list[Decimal | None] = []
    caps: list[Decimal] = []
    realised: list[Decimal | None] = []
    for line, row in enumerate(rows, start=2):
        day = _day(row["time"], line, path)
        cap = _decimal(row["CapMrktCurUSD"], "CapMrktCurUSD", line, path)
        if cap is None:
            continue  # no market cap: the day cannot enter the Z-score window
        days.append(day)
        prices.append(_decimal(row["PriceUSD"], "PriceUSD", line, path))
        caps.append(cap)
        realised.append(_decimal(row["CapRealUSD"], "CapRealUSD", line, path))
    scores = mvrv_z_scores(caps, realised)
    result = [
        AssetDay(day=d, price_usd=p, mvrv_z_score=z)
        for d, p, z in zip(days, prices, scores, strict=True)
        if p is not None and p > 0
    ]
    _check_ascending((r.day for r in result), path)
    return result


def _check_ascending(days: Iterable[date], path: Path) -> None:
    previous: date | None = None
    for day in days:
        if previous is not None and day <= previous:
            raise HistoryFileInvalid(path, f"days must be ascending and unique ({day})")
        previous = day


def observations_from_coinmetrics(
    btc: Sequence[AssetDay], eth: Sequence[AssetDay] | None = None
) -> list[DailyObservation]:
    """Join BTC (and optionally ETH) days into observations; MVRV Z is BTC's.

    Funding and Fear & Greed are not in Coin Metrics' files, so they are unknown.
    """
    eth_prices = {d.day: d.price_usd for d in eth or ()}
    return [
        DailyObservation(
            day=d.day,
            btc_price=d.price_usd,
            eth_price=eth_prices.get(d.day),
            mvrv_z_score=d.mvrv_z_score,
        )
        for d in btc
    ]


def load_history(
    path: Path,
    *,
    eth_path: Path | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[DailyObservation]:
    """Read a history file in either format (told apart by its header), within [start, end].

    The whole file is read before the window is cut, so the MVRV Z-score's expanding window
    includes the history before `start`, as it would have been known then.

    Raises:
        HistoryFileInvalid: the file cannot be read or is in neither format.
    """
    header, _ = _rows(path)
    if all(c in header for c in COINMETRICS_COLUMNS):
        eth = read_coinmetrics(eth_path) if eth_path is not None else None
        observations = observations_from_coinmetrics(read_coinmetrics(path), eth)
    elif "date" in header and "btc_price" in header:
        if eth_path is not None:
            raise HistoryFileInvalid(eth_path, "an ETH file only goes with a Coin Metrics BTC file")
        observations = read_history_csv(path)
    else:
        raise HistoryFileInvalid(
            path,
            f"unknown format; expected {','.join(PROJECT_COLUMNS)} "
            f"or Coin Metrics' {','.join(COINMETRICS_COLUMNS)}",
        )
    window = [
        o
        for o in observations
        if (start is None or o.day >= start) and (end is None or o.day <= end)
    ]
    if len(window) < 2:
        raise HistoryFileInvalid(path, f"fewer than two days between {start} and {end}")
    return window
