"""Optional payload encryption: an AES-GCM codec on the client and the worker.

Turn it on with `TFO_ENCRYPTION_KEY_FILE=/path/keys`. The file holds one key per
line (32 bytes, base64 or hex; `#` comments allowed). The first key encrypts; every
key decrypts, so rotation is: put the new key first, keep the old ones below it
until no history that uses them is needed, then drop them. Each payload records the
ID of the key that encrypted it (the first 8 bytes of the key's SHA-256, in hex).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from tfo.config.errors import ConfigError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def load_keys(path: Path) -> list[bytes]:
    """Read the key file; the first key is the one that encrypts.

    Raises:
        ConfigError: the file is missing, empty, or holds a key that is not 32 bytes.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read encryption key file: {exc.strerror}", path=str(path)) from None
    keys = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        keys.append(_decode_key(text, path, number))
    if not keys:
        raise ConfigError("the encryption key file holds no key", path=str(path))
    return keys


def _decode_key(text: str, path: Path, line: int) -> bytes:
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            key = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ConfigError("an encryption key must be 32 bytes, written as base64 or hex", path=str(path), line=line)


class AesGcmCodec(PayloadCodec):
    """Encrypts every payload with AES-256-GCM; decrypts with whichever key it names."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._current = AESGCM(keys[0])
        self._current_id = key_id(keys[0]).encode()
        self._by_id = {key_id(k).encode(): AESGCM(k) for k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._current.encrypt(nonce, payload.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._current_id}, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            kid = payload.metadata.get(KEY_ID, b"")
            cipher = self._by_id.get(kid)
            if cipher is None:
                unknown = kid.decode(errors="replace")
                raise ValueError(f"payload encrypted with unknown key {unknown}: add it to the key file")
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
            out.append(Payload.FromString(plain))
        return out


def codec_from_env() -> AesGcmCodec | None:
    path = os.environ.get("TFO_ENCRYPTION_KEY_FILE")
    return AesGcmCodec(load_keys(Path(path))) if path else None


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """tfo's data converter: pydantic payloads, optionally encrypted."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
