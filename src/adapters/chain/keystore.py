"""The Signer over an eth-account keystore (v3 JSON, scrypt), decrypted only in memory.

The passphrase comes from `TREASURY_KEYSTORE_PASSPHRASE` or a passphrase file (read by the
entrypoints and passed in). No key or passphrase ever reaches a log, exception or repr.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from application.ports.chain import KeystoreError, SignedTransaction, UnsignedTransaction

logger = logging.getLogger(__name__)

MIN_PASSPHRASE_LENGTH = 12


class KeystoreSigner:
    """Signs EIP-1559 transactions with a key decrypted from a keystore file.

    The decrypted key lives only in this object's private account; `repr` shows the address.
    """

    __slots__ = ("__account",)

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account

    @classmethod
    def from_keystore(cls, path: Path, passphrase: str) -> KeystoreSigner:
        """Decrypt the keystore at `path`.

        Raises:
            KeystoreError: the file is missing, malformed, or the passphrase is wrong.
        """
        keystore = read_keystore(path)
        key: bytes | None
        try:
            key = bytes(Account.decrypt(keystore, passphrase))
        except ValueError:
            key = None
        # Raised outside the handler so no library exception (or its text) rides along.
        if key is None:
            raise KeystoreError(f"keystore {path}: could not decrypt (wrong passphrase?)")
        signer = cls(Account.from_key(key))
        logger.info("keystore unlocked", extra={"address": signer.address})
        return signer

    @property
    def address(self) -> str:
        """The checksummed account address."""
        return str(self.__account.address)

    def sign(self, transaction: UnsignedTransaction) -> SignedTransaction:
        """Sign an EIP-1559 (type 2) transaction."""
        fields: dict[str, Any] = {
            "type": 2,
            "chainId": transaction.chain_id,
            "nonce": transaction.nonce,
            "to": transaction.to,
            "data": transaction.data,
            "value": transaction.value,
            "gas": transaction.gas,
            "maxFeePerGas": transaction.max_fee_per_gas,
            "maxPriorityFeePerGas": transaction.max_priority_fee_per_gas,
        }
        signed = self.__account.sign_transaction(fields)
        return SignedTransaction(raw=bytes(signed.raw_transaction), tx_hash=signed.hash.to_0x_hex())

    def __repr__(self) -> str:
        return f"KeystoreSigner(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a KeystoreSigner cannot be pickled")


def read_keystore(path: Path) -> dict[str, Any]:
    """Read and check the shape of a keystore v3 JSON file.

    Raises:
        KeystoreError: missing file, not JSON, or not a v3 keystore.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"keystore {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"keystore {path} is unreadable: {type(exc).__name__}") from None
    if not isinstance(data, dict) or data.get("version") != 3 or "crypto" not in data:
        raise KeystoreError(f"keystore {path} is not a version 3 keystore")
    return data


def keystore_address(path: Path) -> str:
    """The address a keystore holds, read without decrypting it.

    Raises:
        KeystoreError: the file is not a v3 keystore with an address.
    """
    data = read_keystore(path)
    address = data.get("address")
    if not isinstance(address, str) or len(address.removeprefix("0x")) != 40:
        raise KeystoreError(f"keystore {path} has no address")
    return str(to_checksum_address("0x" + address.removeprefix("0x")))


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise KeystoreError(f"the passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters")


def _write_new(path: Path, keystore: dict[str, Any]) -> None:
    if path.exists():
        raise KeystoreError(f"keystore {path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with owner-only permissions from the start, never world-readable for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keystore, handle)


PAPER_SCRYPT_WORK = 2**12
"""scrypt's cost for the paper mode's own keys (its keystore, the paper Safe's owners): their
passphrase is kept in a file beside them, so a costly key derivation would protect nothing;
eth-account's default (2**18) took about a second per key at every paper start."""


def create_keystore(path: Path, passphrase: str, *, scrypt_work: int | None = None) -> str:
    """Create a keystore with a fresh random key; return its address.

    `scrypt_work` is scrypt's cost parameter (a power of two); None keeps eth-account's default
    (2**18), which is what a keystore guarding real money should use.

    Raises:
        KeystoreError: the file exists or the passphrase is too short.
    """
    _check_passphrase(passphrase)
    account = Account.create(secrets.token_hex(32))
    _write_new(path, Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_work))
    logger.info("keystore created", extra={"address": account.address, "path": str(path)})
    return str(account.address)


def import_keystore(path: Path, private_key: str, passphrase: str) -> str:
    """Encrypt an existing private key (hex) into a new keystore; return its address.

    Raises:
        KeystoreError: the key is malformed, the file exists or the passphrase is too short.
    """
    _check_passphrase(passphrase)
    account: LocalAccount | None
    try:
        account = Account.from_key(private_key.strip())
    except (ValueError, TypeError):
        account = None
    # Raised outside the handler: the library's exception may quote the key.
    if account is None:
        raise KeystoreError("the private key is not a 32-byte hex string")
    _write_new(path, Account.encrypt(account.key, passphrase, kdf="scrypt"))
    logger.info("keystore imported", extra={"address": account.address, "path": str(path)})
    return str(account.address)
