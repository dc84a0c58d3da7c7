"""No private key or passphrase reaches a log, exception text or repr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.chain.keystore import KeystoreSigner, create_keystore, import_keystore
from application.ports.chain import KeystoreError, UnsignedTransaction
from entrypoints.settings.chain import ChainSettings

PASSPHRASE = "correct horse battery staple 42"
KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def _texts(*objects: object) -> str:
    return "\n".join(f"{o!r}\n{o!s}" for o in objects)


def test_keys_and_passphrases_appear_in_no_log_repr_or_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    path = tmp_path / "keystore.json"
    address = import_keystore(path, KEY, PASSPHRASE)
    signer = KeystoreSigner.from_keystore(path, PASSPHRASE)
    signed = signer.sign(
        UnsignedTransaction(
            chain_id=1,
            nonce=0,
            to=address,
            data="0x",
            value=1,
            gas=21_000,
            max_fee_per_gas=10**9,
            max_priority_fee_per_gas=1,
        )
    )
    for attempt in (
        lambda: KeystoreSigner.from_keystore(path, PASSPHRASE + "x"),
        lambda: import_keystore(tmp_path / "other.json", KEY[:-2] + "zz", PASSPHRASE),
        lambda: import_keystore(path, KEY, PASSPHRASE),
        lambda: create_keystore(tmp_path / "short.json", "short"),
    ):
        with pytest.raises(KeystoreError) as failure:
            attempt()
        errors.append(failure.value)
    settings = ChainSettings(
        keystore_passphrase=SecretStr(PASSPHRASE),
        oneinch_api_key=SecretStr("1inch-secret-key"),
        rpc_url_ethereum=SecretStr("https://eth.example/v2/rpc-secret-key"),
    )
    seen = "\n".join(
        [caplog.text, _texts(signer, settings, signed, *errors), path.read_text()]
        + [repr(e.__context__) for e in errors]
    )
    for secret in (PASSPHRASE, KEY, KEY.removeprefix("0x"), "1inch-secret-key", "rpc-secret-key"):
        assert secret not in seen
    assert address in repr(signer)
    assert signer.address == address


def test_a_signer_refuses_to_be_pickled(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "k.json"
    create_keystore(path, PASSPHRASE)
    with pytest.raises(TypeError):
        pickle.dumps(KeystoreSigner.from_keystore(path, PASSPHRASE))


def test_a_keystore_is_written_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    create_keystore(path, PASSPHRASE)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeystoreError, match="already exists"):
        create_keystore(path, PASSPHRASE)
