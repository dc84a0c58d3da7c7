"""The Preflight use case over scripted checks: every line kept in order, optional failures
reported without failing, a silent check cut off and named."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from application.ports.preflight import CheckResult
from application.preflight import Preflight


class Scripted:
    def __init__(self, name: str, *results: CheckResult, delay_s: float = 0.0) -> None:
        self.name = name
        self._results = results
        self._delay_s = delay_s

    async def run(self) -> Sequence[CheckResult]:
        await asyncio.sleep(self._delay_s)
        return self._results


def ok(name: str) -> CheckResult:
    return CheckResult(name=name, ok=True, detail="fine")


async def test_all_passing_checks_make_a_passing_report_with_every_line_in_order() -> None:
    report = await Preflight([Scripted("a", ok("a1"), ok("a2")), Scripted("b", ok("b"))]).execute()
    assert report.ok
    assert [r.name for r in report.results] == ["a1", "a2", "b"]
    assert report.failures == ()


async def test_one_required_failure_fails_the_report_and_is_listed_with_its_fix() -> None:
    bad = CheckResult(name="rpc chain id", ok=False, detail="chain 5", fix="point it at 1")
    report = await Preflight([Scripted("a", ok("a")), Scripted("rpc", bad)]).execute()
    assert not report.ok
    assert report.failures == (bad,)


async def test_an_optional_failure_is_reported_but_does_not_fail_the_report() -> None:
    optional = CheckResult(name="deribit", ok=False, detail="HTTP 503", required=False)
    report = await Preflight([Scripted("m", ok("coingecko"), optional)]).execute()
    assert report.ok
    assert optional in report.results


async def test_a_check_that_does_not_answer_in_time_is_a_failed_line_naming_it() -> None:
    report = await Preflight(
        [Scripted("slow node", ok("never"), delay_s=5), Scripted("a", ok("a"))], timeout_s=0.1
    ).execute()
    assert not report.ok
    (failed,) = report.failures
    assert failed.name == "slow node"
    assert failed.detail.startswith("no answer within")
    assert [r.name for r in report.results] == ["slow node", "a"]
