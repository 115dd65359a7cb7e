"""`tfo codec-server`: decode encrypted payloads for the Temporal UI."""

from __future__ import annotations

import sys

from tfo.config.errors import ConfigError
from tfo.daemon.codec import codec_from_env


def codec_server(*, host: str, port: int, origin: str) -> int:
    from tfo.daemon.codec_server import serve

    codec = codec_from_env()
    if codec is None:
        raise ConfigError("set TFO_ENCRYPTION_KEY_FILE to the key file the workers use", path="environment")
    server = serve(codec, host=host, port=port, origin=origin)
    print(f"tfo codec-server on http://{host}:{server.server_address[1]} for {origin}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
