"""Child process for the crash test: writes a whole unit of work, reports, then waits to die.

Usage: python crash_writer.py URL [SCHEMA]
"""

from __future__ import annotations

import asyncio
import sys

from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.contracts.persistence import make_decision, make_plan, make_state


async def main(url: str, schema: str | None) -> None:
    engine = create_engine(url, schema=schema)
    factory = SqlUnitOfWorkFactory(engine)
    async with factory() as uow:
        await uow.decisions.add(make_decision("dec-crash"))
        await uow.plans.add(make_plan("plan-crash"), decision_id="dec-crash")
        await uow.snapshots.add(make_state())
        await uow.audit.append("cycle", "decision.created", "decision", "dec-crash", {})
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.sleep(60)  # killed here, before commit
        await uow.commit()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
