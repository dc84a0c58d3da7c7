"""Operator commands that talk to the running service over its REST API.

`cycle`, `signal`, `status`, `rebalance`, `decisions pending|approve|reject|history`,
`emergency-stop`, `resume`, `lift-cooldown` and `metrics` act on the service that holds the
treasury (in paper mode the dev chain lives inside that process), so they go through the same
API, with the same token roles and audit trail, as the dashboard. `TREASURY_API_URL` (default
`http://127.0.0.1:8600`) says where it is and `TREASURY_API_TOKEN` carries the bearer token
(paper mode prints one and keeps it in `var/api_token`).
"""

from __future__ import annotations

import http.client
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer

from entrypoints.cli.exit_codes import ExitCode
from entrypoints.cli.output import console, key_value_table, print_json

if TYPE_CHECKING:
    from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:8600"
TIMEOUT_S = 60.0
# The API's answer -> the command's exit code (docs/cli.md).
EXIT_BY_STATUS: Mapping[int, ExitCode] = {
    400: ExitCode.USAGE,
    401: ExitCode.NO_PERMISSION,
    403: ExitCode.NO_PERMISSION,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    422: ExitCode.FAILURE,
    429: ExitCode.TEMPORARY,
    503: ExitCode.TEMPORARY,
}

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="Service URL (default: TREASURY_API_URL).")
]


class ServiceClient:
    """A small synchronous client for the treasury's API."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = (url or os.environ.get("TREASURY_API_URL") or DEFAULT_URL).rstrip("/")
        self._token = token if token is not None else _token_from_environment()

    def __repr__(self) -> str:
        return f"ServiceClient(url={self.url!r})"

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call the API; exit with one clear line when it cannot answer as asked."""
        headers = {"accept": "application/json"}
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        try:
            status, reason_phrase, raw = _exchange(self.url, method, path, body, headers)
        except (OSError, http.client.HTTPException):
            _exit(
                f"cannot reach the treasury service at {self.url}; start it with "
                "`treasury serve` (or `make paper`), or set TREASURY_API_URL",
                ExitCode.TEMPORARY,
            )
        payload = _json(raw)
        if status == 403 and path == "/portfolio/rebalance":
            return payload  # the plan waits for approval: an answer, not an error
        if status >= 400:
            reason = _message(payload) or reason_phrase
            if status == 401:
                reason = f"{reason} (set TREASURY_API_TOKEN to a valid token)"
            _exit(f"{status}: {reason}", EXIT_BY_STATUS.get(status, ExitCode.FAILURE))
        return payload


def _exchange(
    url: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None,
    headers: dict[str, str],
) -> tuple[int, str, bytes]:
    """One HTTP request with the standard library's client (httpx alone would add a tenth of a
    second to every command's start); no proxies, like the service's own clients.

    Raises:
        OSError: the service could not be reached or did not answer in time.
        http.client.HTTPException: the answer was not HTTP.
    """
    parts = urlsplit(url)
    content = None
    if body is not None:
        content = json.dumps(body).encode()
        headers = {**headers, "content-type": "application/json"}
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT_S)
    try:
        connection.request(method, f"{parts.path}{path}", body=content, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason, response.read()
    finally:
        connection.close()


def _token_from_environment() -> str | None:
    token = os.environ.get("TREASURY_API_TOKEN")
    if token:
        return token.strip()
    data_dir = Path(os.environ.get("TREASURY_DATA_DIR", "var"))
    path = data_dir / "api_token"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": raw.decode("utf-8", "replace")[:200]}


def _message(payload: Any) -> str | None:
    """The error line of an API error body, with validation details when there are some."""
    if not isinstance(payload, dict):
        return None
    message = payload.get("error")
    details = payload.get("details")
    if isinstance(details, list) and details:
        parts = [
            f"{d.get('key') or d.get('loc') or ''}: {d.get('message') or d.get('msg')}"
            for d in details
            if isinstance(d, dict)
        ]
        message = f"{message} ({'; '.join(parts)})"
    return str(message) if message else None


def _exit(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def _age(data: Mapping[str, Any]) -> str:
    """How old the service's state is, and whether its refresh is failing."""
    age = data.get("age_seconds")
    text = "-" if age is None else f"{float(age):.0f} s"
    if data.get("stale"):
        text += f" (stale: refresh failing, {data.get('stale_reason') or 'unknown error'})"
    return text


def _usd(value: Any) -> str:
    return "-" if value is None else f"${float(value):,.2f}"


# --- read commands --------------------------------------------------------------------------


def status(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """The portfolio now: value, positions, allocations against targets."""
    data = ServiceClient(url).request("GET", "/portfolio/status")
    if as_json:
        print_json(data)
        return
    console.print(
        key_value_table(
            "Portfolio",
            {
                "total value": _usd(data.get("total_value_usd")),
                "cash": _usd(data.get("cash_balance")),
                "last rebalance": data.get("last_rebalance"),
                "as of": data.get("as_of"),
                "age": _age(data),
            },
        )
    )
    from rich.table import Table

    table = Table(title="Positions")
    for column in ("protocol", "asset", "amount", "value", "APY", "return"):
        table.add_column(column)
    stale: list[str] = []
    for p in data.get("positions", []):
        asset = p["asset"]
        if p.get("stale"):
            asset += " (stale)"
            stale.append(f"{p['protocol']} {p['asset']}: {p.get('stale_reason') or 'unreadable'}")
        table.add_row(
            p["protocol"],
            asset,
            f"{float(p['amount']):,.6f}",
            _usd(p["value_usd"]),
            _pct(p.get("apy")),
            _pct(p.get("current_return")),
        )
    console.print(table)
    for line in stale:
        console.print(f"stale, last value shown: {line}", markup=False)
    allocations = Table(title="Allocation")
    for column in ("bucket", "now", "target"):
        allocations.add_column(column)
    for bucket, line in data.get("allocations", {}).items():
        allocations.add_row(bucket, _pct(line.get("current")), _pct(line.get("target")))
    console.print(allocations)


def signal(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """The allocation signal the market implies now."""
    data = ServiceClient(url).request("GET", "/market/signal")
    if as_json:
        print_json(data)
        return
    rows: dict[str, object] = {
        "mode": data.get("mode"),
        "phase": data.get("market_phase"),
        "confidence": _pct(data.get("confidence")),
        "risk": data.get("risk_level"),
        "trigger": data.get("trigger"),
        "reasoning": data.get("reasoning"),
    }
    for bucket, share in data.get("target_allocations", {}).items():
        rows[f"target {bucket}"] = _pct(share)
    console.print(key_value_table("Signal", rows))


def metrics(
    time_range: Annotated[
        str, typer.Option("--range", help="24h, 7d, 30d, 90d, 1y or all.")
    ] = "7d",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Performance over a time range: returns, APY, Sharpe, drawdown, against baselines."""
    data = ServiceClient(url).request("GET", f"/performance/metrics?time_range={time_range}")
    if as_json:
        print_json(data)
        return
    keys = (
        "time_weighted_return",
        "apy",
        "sharpe_ratio",
        "sortino",
        "sharpe_at_zero_rate",
        "sharpe_at_static_yield",
        "sortino_at_zero_rate",
        "sortino_at_static_yield",
        "max_drawdown",
        "volatility",
        "pnl_usd",
    )
    rows: dict[str, object] = {"range": time_range}
    for key in keys:
        value = data.get(key)
        if key == "pnl_usd":
            rows[key] = _usd(value)
        elif key.startswith(("sharpe", "sortino")):
            rows[key] = "-" if value is None else f"{float(value):.2f}"
        else:
            rows[key] = _pct(value)
    console.print(key_value_table("Performance", rows))


# --- acting commands ------------------------------------------------------------------------


def _print_cycle(data: Mapping[str, Any]) -> None:
    rows: dict[str, object] = {
        "outcome": data.get("status"),
        "decision": data.get("decision_id"),
    }
    plan = data.get("plan")
    if plan:
        rows["moves"] = len(plan.get("required_transactions", []))
        rows["estimated gas"] = _usd(plan.get("estimated_gas_cost"))
    for reason in data.get("reasons", []):
        rows.setdefault("reasons", reason)
    console.print(key_value_table("Decision cycle", rows))
    if plan:
        from rich.table import Table

        table = Table(title="Planned moves")
        for column in ("type", "protocol", "from", "to", "USD"):
            table.add_column(column)
        for t in plan.get("required_transactions", []):
            table.add_row(
                t["tx_type"], t["protocol"], t["from_asset"], t["to_asset"], _usd(t["amount_usd"])
            )
        console.print(table)
    if data.get("status") == "pending_approval":
        typer.echo(
            f"the plan waits for approval: treasury decisions approve {data.get('decision_id')}"
        )


def cycle(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Run one decision cycle now (the scheduler's work, on demand)."""
    data = ServiceClient(url).request("POST", "/portfolio/rebalance", {"force": False})
    print_json(data) if as_json else _print_cycle(data)


def rebalance(
    force: Annotated[bool, typer.Option("--force", help="Rebalance even inside the band.")] = False,
    max_slippage: Annotated[
        float | None, typer.Option("--max-slippage", help="Fraction, e.g. 0.005.")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Request a rebalance; large plans wait for approval."""
    body: dict[str, Any] = {"force": force}
    if max_slippage is not None:
        body["max_slippage"] = max_slippage  # a JSON number: the API refuses strings
    data = ServiceClient(url).request("POST", "/portfolio/rebalance", body)
    print_json(data) if as_json else _print_cycle(data)


decisions_app = typer.Typer(help="Decisions: pending approvals, history, approve or reject.")


def _decision_table(title: str, rows: list[Mapping[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for column in ("id", "status", "kind", "created", "expires", "reasons"):
        table.add_column(column)
    for d in rows:
        table.add_row(
            d["id"],
            d["status"],
            d["kind"],
            str(d["created_at"])[:19],
            str(d.get("expires_at") or "-")[:19],
            "; ".join(d.get("verdict_reasons", [])) or "-",
        )
    return table


@decisions_app.command("pending")
def decisions_pending(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Decisions waiting for a human."""
    data = ServiceClient(url).request("GET", "/decisions/pending")
    print_json(data) if as_json else console.print(_decision_table("Pending decisions", data))


@decisions_app.command("history")
def decisions_history(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Recent decisions, newest first."""
    data = ServiceClient(url).request("GET", f"/decisions?limit={limit}")
    print_json(data) if as_json else console.print(_decision_table("Decisions", data))


def _decide(decision_id: str, approved: bool, notes: str | None, url: str | None) -> None:
    data = ServiceClient(url).request(
        "POST", f"/decisions/{decision_id}/approve", {"approved": approved, "notes": notes}
    )
    verb = "approved; the plan executes in the background" if approved else "rejected"
    typer.echo(f"decision {data['id']} {verb} (status {data['status']})")


@decisions_app.command("approve")
def decisions_approve(
    decision_id: str,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    url: UrlOption = None,
) -> None:
    """Approve a pending decision (needs an approver token)."""
    _decide(decision_id, True, notes, url)


@decisions_app.command("reject")
def decisions_reject(
    decision_id: str,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    url: UrlOption = None,
) -> None:
    """Reject a pending decision, with notes for the record."""
    _decide(decision_id, False, notes, url)


def emergency_stop(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    url: UrlOption = None,
) -> None:
    """Stop all execution until `treasury resume`."""
    data = ServiceClient(url).request("POST", "/emergency-stop", {"reason": reason})
    typer.echo(f"emergency stop is ON (set by {data['set_by']}: {data['reason']})")


def resume(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    url: UrlOption = None,
) -> None:
    """Lift the emergency stop (needs an approver token)."""
    data = ServiceClient(url).request("POST", "/resume", {"reason": reason})
    typer.echo(f"emergency stop is OFF (lifted by {data['set_by']}: {data['reason']})")


def lift_cooldown(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    url: UrlOption = None,
) -> None:
    """End the re-entry cooldown after an exit early (needs an approver token)."""
    data = ServiceClient(url).request("POST", "/cooldown/lift", {"reason": reason})
    typer.echo(
        f"re-entry cooldown lifted by {data['lifted_by']} ({data['reason']}); it would have run"
        f" until {data['would_end_at']}"
    )


# --- Safe custody: the owners' revocation of the agent's role ------------------------------

SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def safe_revocation(
    typed_data: Annotated[
        bool,
        typer.Option(
            "--typed-data",
            help="Print only the EIP-712 typed data to sign (for `cast wallet sign --data`).",
        ),
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """The revocation of the agent's role the emergency stop prepared (Safe custody): what it
    does, its safeTxHash, who has signed, and the typed data an owner signs."""
    data = ServiceClient(url).request("GET", "/emergency-stop/revocation")
    if typed_data:
        typer.echo(json.dumps(data["typed_data"], separators=(",", ":")))
        return
    if as_json:
        print_json(data)
        return
    signed = data.get("signatures", [])
    rows: dict[str, object] = {
        "what": data.get("summary"),
        "safe": data.get("safe"),
        "safeTxHash": data.get("safe_tx_hash"),
        "nonce": data.get("nonce"),
        "signed": f"{len(signed)} of {data.get('threshold')} owners"
        + (f" ({', '.join(signed)})" if signed else ""),
        "owners": ", ".join(data.get("owners", [])),
    }
    # Plain lines: the hashes and addresses stay whole for copying (a table would wrap them).
    typer.echo("Revocation of the agent's role")
    for key, value in rows.items():
        typer.echo(f"  {key}: {value}")
    typer.echo(
        "sign with an owner's key: cast wallet sign --data "
        '"$(treasury safe revocation --typed-data)", then treasury safe sign-revocation '
        "--signature 0x... --signer 0xOWNER"
    )


def safe_sign_revocation(
    signature: Annotated[
        str, typer.Option("--signature", help="The owner's 65-byte signature, 0x-prefixed hex.")
    ],
    signer: Annotated[
        str | None,
        typer.Option(
            "--signer", help="The owner who signed; refused if the signature is not theirs."
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Submit an owner's signature over the revocation (needs an approver token); the one that
    meets the threshold executes it."""
    if not SIGNATURE.match(signature):
        _exit(
            "--signature must be 0x followed by 130 hex digits (65 bytes: r, s, v); sign the "
            "typed data from `treasury safe revocation --typed-data`",
            ExitCode.USAGE,
        )
    if signer is not None and not ADDRESS.match(signer):
        _exit("--signer must be an owner's address, 0x followed by 40 hex digits", ExitCode.USAGE)
    body: dict[str, Any] = {"signature": signature}
    if signer is not None:
        body["signer"] = signer
    data = ServiceClient(url).request("POST", "/emergency-stop/revocation/signatures", body)
    if as_json:
        print_json(data)
        return
    count = f"{len(data['signatures'])} of {data['threshold']} owners have signed"
    if data.get("executed"):
        typer.echo(f"the agent's role is revoked (transaction {data['tx_hash']}; {count})")
    elif data.get("error"):
        _exit(f"{count} but the revocation did not run: {data['error']}", ExitCode.FAILURE)
    else:
        typer.echo(f"signature of {data['signer']} kept: {count}")


def register(app: typer.Typer) -> None:
    """Add the client commands to the `treasury` app."""
    app.command("status")(status)
    app.command("signal")(signal)
    app.command("metrics")(metrics)
    app.command("cycle")(cycle)
    app.command("rebalance")(rebalance)
    app.command("emergency-stop")(emergency_stop)
    app.command("resume")(resume)
    app.command("lift-cooldown")(lift_cooldown)
    app.add_typer(decisions_app, name="decisions")


__all__ = ["ServiceClient", "register"]
