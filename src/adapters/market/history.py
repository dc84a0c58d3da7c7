"""Daily market history as CSV: the reader the backtester and the replay market share.

Columns (header required, order free, extra columns ignored):
`date,btc_price,eth_price,mvrv_z_score,funding_rate,fear_greed`. `date` is ISO (2024-03-01),
`btc_price` is required, the others may be empty (unknown that day). `funding_rate` is a
fraction per 8 hours. Dates must strictly increase. Every bad row is reported with the file
and line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from adapters.market.simulated import DEFAULT_THRESHOLDS, Timeline, market_data_from_day
from application.errors import MarketDataUnavailable, PermanentError
from application.ports.clock import Clock
from application.ports.market import SourceHealth, SourceStatus
from domain.errors import InvalidValue
from domain.history import DailyObservation
from domain.market import MarketData
from domain.phases import PhaseThresholds

COLUMNS = ("date", "btc_price", "eth_price", "mvrv_z_score", "funding_rate", "fear_greed")
REQUIRED = ("date", "btc_price")


class HistoryFileInvalid(PermanentError):
    """A history CSV cannot be read; names the file and, for a bad row, the line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


def _decimal(text: str, column: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{column} {text!r} is not a finite number")
    return value


def _row(fields: dict[str, str | None]) -> DailyObservation:
    def cell(name: str) -> str:
        return (fields.get(name) or "").strip()

    if not cell("date"):
        raise ValueError("date is empty")
    try:
        day = date.fromisoformat(cell("date"))
    except ValueError:
        raise ValueError(f"date {cell('date')!r} is not an ISO date (YYYY-MM-DD)") from None
    btc = _decimal(cell("btc_price"), "btc_price")
    if btc is None:
        raise ValueError("btc_price is empty")
    fear_greed_text = cell("fear_greed")
    fear_greed: int | None = None
    if fear_greed_text:
        try:
            fear_greed = int(fear_greed_text)
        except ValueError:
            raise ValueError(f"fear_greed {fear_greed_text!r} is not a whole number") from None
    try:
        return DailyObservation(
            day=day,
            btc_price=btc,
            eth_price=_decimal(cell("eth_price"), "eth_price"),
            mvrv_z_score=_decimal(cell("mvrv_z_score"), "mvrv_z_score"),
            funding_rate=_decimal(cell("funding_rate"), "funding_rate"),
            fear_greed=fear_greed,
        )
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None


def parse_history(lines: Iterable[str], name: str = "<history>") -> list[DailyObservation]:
    """Parse history CSV text.

    Raises:
        HistoryFileInvalid: a missing column, a bad value, or dates out of order.
    """
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise HistoryFileInvalid(name, "empty file: expected a header " + ",".join(COLUMNS))
    reader.fieldnames = header
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise HistoryFileInvalid(name, f"missing column(s) {', '.join(missing)}", line=1)
    rows: list[DailyObservation] = []
    for fields in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in fields.values() if isinstance(v, str)):
            continue  # blank line
        try:
            row = _row(fields)
        except ValueError as exc:
            raise HistoryFileInvalid(name, str(exc), line=line) from exc
        if rows and row.day <= rows[-1].day:
            raise HistoryFileInvalid(
                name, f"date {row.day} does not follow {rows[-1].day}", line=line
            )
        rows.append(row)
    if not rows:
        raise HistoryFileInvalid(name, "no rows")
    return rows


def read_history_csv(path: Path | str) -> list[DailyObservation]:
    """Read a daily history CSV file.

    Raises:
        HistoryFileInvalid: the file cannot be opened or a row is bad (file and line named).
    """
    target = Path(path)
    try:
        with target.open(newline="", encoding="utf-8") as handle:
            return parse_history(handle, str(target))
    except OSError as exc:
        raise HistoryFileInvalid(target, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise HistoryFileInvalid(target, "not UTF-8 text") from exc


def write_history_csv(rows: Iterable[DailyObservation], path: Path | str) -> Path:
    """Write rows in the format `read_history_csv` reads (e.g. a simulated path for a backtest)."""
    target = Path(path)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    r.day.isoformat(),
                    r.btc_price,
                    "" if r.eth_price is None else r.eth_price,
                    "" if r.mvrv_z_score is None else r.mvrv_z_score,
                    "" if r.funding_rate is None else r.funding_rate,
                    "" if r.fear_greed is None else r.fear_greed,
                ]
            )
    return target


def _change(today: Decimal | None, yesterday: Decimal | None) -> Decimal | None:
    if today is None or yesterday is None:
        return None
    return today / yesterday - 1


class ReplayMarket:
    """A MarketDataSource replaying daily history along an injected clock (one row per
    `seconds_per_day`, plus days added with `advance()`); past the last row, fetch fails."""

    def __init__(
        self,
        rows: Sequence[DailyObservation],
        *,
        clock: Clock,
        name: str = "replay",
        seconds_per_day: float = 86_400.0,
        thresholds: PhaseThresholds = DEFAULT_THRESHOLDS,
        started_at: datetime | None = None,
    ) -> None:
        """`started_at` is the clock time of the first row (default: now)."""
        if not rows:
            raise ValueError("a replay needs at least one row")
        self._rows = tuple(rows)
        self._clock = clock
        self._timeline = Timeline(clock, seconds_per_day=seconds_per_day, started_at=started_at)
        self._thresholds = thresholds
        self.source = f"replay:{name}"
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None

    @classmethod
    def from_csv(
        cls,
        path: Path | str,
        *,
        clock: Clock,
        seconds_per_day: float = 86_400.0,
        started_at: datetime | None = None,
    ) -> ReplayMarket:
        """A replay over a history CSV file.

        Raises:
            HistoryFileInvalid: the file is unreadable or has a bad row.
        """
        return cls(
            read_history_csv(path),
            clock=clock,
            name=Path(path).name,
            seconds_per_day=seconds_per_day,
            started_at=started_at,
        )

    def advance(self, days: int = 1) -> None:
        """Move the replay forward by whole days."""
        self._timeline.advance(days)

    def current_day(self) -> DailyObservation | None:
        """Today's row, or None once the history has run out."""
        index = self._timeline.day_index()
        return self._rows[index] if index < len(self._rows) else None

    def current_prices(self) -> dict[str, Decimal]:
        """Today's BTC (and ETH when known) USD prices, for the dev chain's price oracle.

        Raises:
            MarketDataUnavailable: the history has run out.
        """
        _, row = self._require_row()
        prices = {"BTC": row.btc_price}
        if row.eth_price is not None:
            prices["ETH"] = row.eth_price
        return prices

    def _require_row(self) -> tuple[int, DailyObservation]:
        index = self._timeline.day_index()
        if index >= len(self._rows):
            error = MarketDataUnavailable(
                self.source, f"history ended on {self._rows[-1].day}", permanent=True
            )
            self._last_error, self._last_error_at = str(error), self._clock.now()
            raise error
        return index, self._rows[index]

    async def fetch(self) -> MarketData:
        """Today's replayed row as MarketData (24 h changes from the previous row).

        Raises:
            MarketDataUnavailable: the history has run out.
        """
        index, row = self._require_row()
        before = self._rows[index - 1] if index > 0 else None
        now = self._clock.now()
        data = market_data_from_day(
            row,
            source=self.source,
            now=now,
            btc_change_24h=_change(row.btc_price, before.btc_price if before else None),
            eth_change_24h=_change(row.eth_price, before.eth_price if before else None),
            thresholds=self._thresholds,
        )
        self._last_success = now
        return data

    async def health(self) -> list[SourceHealth]:
        """ok while rows remain, down once the history has ended."""
        ended = self.current_day() is None
        return [
            SourceHealth(
                source=self.source,
                status=SourceStatus.DOWN if ended else SourceStatus.OK,
                last_success=self._last_success,
                last_error=self._last_error if ended else None,
                last_error_at=self._last_error_at if ended else None,
            )
        ]
