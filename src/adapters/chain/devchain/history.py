"""Bounding the in-process chain's memory: old world states are dropped, blocks are kept.

py-evm keeps every version of the world state it ever had: each block writes the state-trie
nodes its transactions changed, and nothing deletes the nodes a later block replaced. Paper
mode mines about three blocks an hour of simulated time (the oracle, the 3pool's volume, the
clock), about 11 KiB of trie nodes a cycle, so the paper service grew without bound
(docs/benchmarks.md).

`StateHistory.prune` is a mark and sweep over the in-process chain's key-value store. It keeps:

* every canonical block: its header, its uncles, and the tries of its transactions, receipts
  and withdrawals (so every block, transaction and receipt stays readable, however old);
* the whole world state (accounts, storage, code) of the newest `keep_blocks` canonical
  blocks, enough for `eth_call` on recent blocks and for the snapshot simulator's revert
  (eth-tester re-imports the snapshot block on its parent's state);

and deletes every other 32-byte key: the state-trie nodes only older states used, and what
reverted simulations and orphaned blocks left. Keys of other lengths are py-evm's lookup
tables (block number to hash, transaction index, head) and are never touched. Reading the
state of a block older than the window fails afterwards, as on a pruning node.

Only the in-process chain is pruned, between writes (the caller holds the chain's write lock):
a JSON-RPC node such as anvil manages its own memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_tester import EthereumTester

log = logging.getLogger(__name__)

KEEP_BLOCKS = 256
"""How many of the newest blocks' world states the in-process chain keeps (about 80 paper
cycles); the whole history of blocks, transactions and receipts is always kept."""

_HASH_LENGTH = 32


@dataclass(slots=True)
class PruneResult:
    """What one prune did."""

    deleted: int
    kept: int
    head: int


def _children(node: list[Any]) -> Iterable[Any]:
    """The child references of a decoded trie node (hashes or embedded nodes)."""
    if len(node) == 17:
        return (child for child in node[:16] if child != b"")
    if len(node) == 2 and node[0] and (node[0][0] >> 4) in (0, 1):  # an extension
        return (node[1],)
    return ()


def _leaf_value(node: list[Any]) -> bytes | None:
    if len(node) == 2 and node[0] and (node[0][0] >> 4) in (2, 3):
        value: bytes = node[1]
        return value
    if len(node) == 17 and node[16]:
        value = node[16]
        return value
    return None


def walk_trie(
    store: MutableMapping[bytes, bytes],
    root: bytes,
    seen: set[bytes],
    on_leaf: Callable[[bytes], None] | None = None,
) -> None:
    """Add to `seen` the key of every node of the trie under `root` found in `store`; call
    `on_leaf` with each leaf's value. Subtrees whose root is already in `seen` are skipped, so
    walking many versions of one trie costs only the nodes they do not share."""
    pending: list[Any] = [root]
    while pending:
        reference = pending.pop()
        if isinstance(reference, list):
            node = reference  # small nodes are embedded in their parent
        else:
            if reference in seen or reference == BLANK_ROOT_HASH:
                continue
            encoded = store.get(reference)
            if encoded is None:
                continue
            seen.add(reference)
            node = rlp.decode(encoded)
        if on_leaf is not None:
            value = _leaf_value(node)
            if value is not None:
                on_leaf(value)
        pending.extend(_children(node))


@dataclass(slots=True)
class StateHistory:
    """Prunes an in-process chain's old world states every `every_blocks` new blocks."""

    tester: EthereumTester
    keep_blocks: int = KEEP_BLOCKS
    every_blocks: int = KEEP_BLOCKS
    _pruned_at: int = 0
    _block_keys: dict[bytes, frozenset[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keep_blocks < 2 or self.every_blocks < 1:
            raise ValueError("keep at least two blocks' states and prune every block at most")

    def _chain(self) -> Any:
        return self.tester.backend.chain

    def store(self) -> MutableMapping[bytes, bytes]:
        """The chain's key-value store (py-evm's MemoryDB under its AtomicDB)."""
        db = self._chain().chaindb.db
        while hasattr(db, "wrapped_db"):
            db = db.wrapped_db
        kv: MutableMapping[bytes, bytes] = db.kv_store
        return kv

    def maybe_prune(self) -> PruneResult | None:
        """Prune when `every_blocks` blocks were mined since the last prune."""
        head = self._chain().get_canonical_head().block_number
        if head - self._pruned_at < self.every_blocks or head < self.keep_blocks:
            return None
        return self.prune()

    def prune(self) -> PruneResult:
        """Mark what must stay, then delete every other 32-byte key (module docstring)."""
        chain = self._chain()
        chaindb = chain.chaindb
        store = self.store()
        head = chaindb.get_canonical_head().block_number
        keep: set[bytes] = set()
        canonical: dict[bytes, frozenset[bytes]] = {}
        for number in range(head + 1):
            block_hash = chaindb.get_canonical_block_hash(number)
            keys = self._block_keys.get(block_hash)
            if keys is None:
                keys = self._block_data(store, chaindb.get_block_header_by_hash(block_hash))
            canonical[block_hash] = keys
            keep.update(keys)
        self._block_keys = canonical
        state: set[bytes] = set()
        for number in range(max(0, head - self.keep_blocks + 1), head + 1):
            header = chaindb.get_canonical_block_header_by_number(number)
            self._mark_state(store, header.state_root, state)
        keep.update(state)
        keep.add(EMPTY_SHA3)  # the empty code, which py-evm stores once
        doomed = [key for key in list(store) if len(key) == _HASH_LENGTH and key not in keep]
        for key in doomed:
            del store[key]
        self._pruned_at = head
        log.debug("in-process chain pruned", extra={"deleted": len(doomed), "head": head})
        return PruneResult(deleted=len(doomed), kept=len(store), head=head)

    @staticmethod
    def _block_data(store: MutableMapping[bytes, bytes], header: Any) -> frozenset[bytes]:
        keys: set[bytes] = {header.hash, header.uncles_hash}
        roots = [header.transaction_root, header.receipt_root]
        withdrawals = getattr(header, "withdrawals_root", None)
        if withdrawals is not None:
            roots.append(withdrawals)
        for root in roots:
            walk_trie(store, root, keys)
        return frozenset(key for key in keys if key in store)

    @staticmethod
    def _mark_state(store: MutableMapping[bytes, bytes], root: bytes, seen: set[bytes]) -> None:
        storage_roots: list[bytes] = []

        def account(value: bytes) -> None:
            _nonce, _balance, storage_root, code_hash = rlp.decode(value)
            if storage_root != BLANK_ROOT_HASH:
                storage_roots.append(storage_root)
            if code_hash != EMPTY_SHA3 and code_hash in store:
                seen.add(code_hash)

        walk_trie(store, root, seen, on_leaf=account)
        for storage_root in storage_roots:
            walk_trie(store, storage_root, seen)


__all__ = ["KEEP_BLOCKS", "PruneResult", "StateHistory", "walk_trie"]
