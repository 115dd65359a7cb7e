"""The AES-GCM payload codec: round trips, key rotation, and key file errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from tfo.config.errors import ConfigError
from tfo.daemon.codec import ENCODING, AesGcmCodec, load_keys


def _payload(text: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text)


async def test_round_trip_hides_the_plaintext() -> None:
    codec = AesGcmCodec([os.urandom(32)])
    [sealed] = await codec.encode([_payload(b'{"password": "canary-123"}')])
    assert sealed.metadata["encoding"] == ENCODING
    assert b"canary-123" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened.data == b'{"password": "canary-123"}'
    assert opened.metadata["encoding"] == b"json/plain"


async def test_rotation_old_keys_still_decrypt() -> None:
    old, new = os.urandom(32), os.urandom(32)
    [by_old] = await AesGcmCodec([old]).encode([_payload(b"before rotation")])
    rotated = AesGcmCodec([new, old])
    [by_new] = await rotated.encode([_payload(b"after rotation")])
    assert [p.data for p in await rotated.decode([by_old, by_new])] == [b"before rotation", b"after rotation"]
    with pytest.raises(ValueError, match="unknown key"):
        await AesGcmCodec([new]).decode([by_old])


async def test_unencrypted_payloads_pass_through() -> None:
    plain = _payload(b"legacy")
    assert await AesGcmCodec([os.urandom(32)]).decode([plain]) == [plain]


def test_key_file_accepts_base64_hex_and_comments(tmp_path: Path) -> None:
    a, b = os.urandom(32), os.urandom(32)
    path = tmp_path / "keys"
    path.write_text(f"# current\n{base64.b64encode(a).decode()}\n\n{b.hex()}  # previous\n")
    assert load_keys(path) == [a, b]


@pytest.mark.parametrize("content", ["", "# nothing\n", "c2hvcnQ=\n", "not a key at all\n"])
def test_bad_key_files_are_one_line_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_keys(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert "c2hvcnQ" not in str(info.value)  # never echo key material


async def test_codec_server_decodes_for_the_ui() -> None:
    import json
    import threading
    import urllib.request

    from google.protobuf import json_format

    from tfo.daemon.codec_server import serve

    codec = AesGcmCodec([os.urandom(32)])
    [sealed] = await codec.encode([_payload(b'"hello"')])
    server = serve(codec, host="127.0.0.1", port=0, origin="http://ui.example")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        body = json.dumps({"payloads": [json_format.MessageToDict(sealed)]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/decode", data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "http://ui.example"
            answer = json.loads(response.read())
        [opened] = [json_format.ParseDict(p, Payload()) for p in answer["payloads"]]
        assert opened.data == b'"hello"'
    finally:
        server.shutdown()
        server.server_close()
