#!/usr/bin/env python3
"""Generate the golden byte vectors of docs/SPEC.md §9 (fixtures/vectors/*.json).

Independent of the TypeScript codecs on purpose: this script uses only the Python 3.11
standard library (json, hmac, hashlib, struct) and a tiny MessagePack encoder written
from the MessagePack specification, so a bug shared by the TypeScript encoder and
decoder cannot hide behind vectors produced by that same code.

Usage:  python3 scripts/gen-vectors.py [--check] [--out DIR]

  --check   regenerate in memory and exit 1 if any file on disk differs (CI drift check)
  --out     output directory (default: fixtures/vectors next to this script's repo)

Encoding rules the TypeScript side must (and does) follow; see fixtures/vectors/README.md:

  JSON        ECMAScript JSON.stringify: no spaces, non-ASCII left unescaped, integral
              numbers written without a fraction. Only values on which Python's json
              and JSON.stringify provably agree are used (checked by js_json()).
  MessagePack smallest format for every value: fixmap/map16, fixstr/str8/str16,
              positive fixint/uint8/uint16/uint32, negative fixint/int8/int16/int32,
              int64 (0xd3) for integers outside the 32-bit range (never float64),
              float64 (0xcb) for every non-integral number, bin8/bin16 for bytes.
  Envelope    keys in the order the spec lists them and the TS signer emits them:
              none/hmac-json: id?, signal, signature?  hmac-v2: id?, ts, nonce, body, sig
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECRET = "fastpath-golden-secret"

# --------------------------------------------------------------------------- JSON


def _check_js_compatible(value: Any, path: str = "$") -> None:
    """Refuses values whose Python json text would differ from ECMAScript JSON.stringify."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise ValueError(f"{path}: integer {value} is not a safe integer in JS")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: non-finite float")
        if value.is_integer():
            raise ValueError(f"{path}: integral float {value!r} (Python writes .0, JS does not): use an int")
        # Python's repr switches to exponent form below 1e-4 and from 1e16; JS below 1e-6 and from 1e21.
        if not (1e-4 <= abs(value) < 1e16):
            raise ValueError(f"{path}: float {value!r} outside the range where Python and JS agree")
        return
    if isinstance(value, str):
        for ch in value:
            cp = ord(ch)
            if cp < 0x20 or 0xD800 <= cp <= 0xDFFF:
                raise ValueError(f"{path}: control character or lone surrogate U+{cp:04X}")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: non-string key {k!r}")
            if k.isdigit():
                raise ValueError(f"{path}: integer-like key {k!r} (JS moves it first)")
            _check_js_compatible(v, f"{path}.{k}")
        return
    raise ValueError(f"{path}: type {type(value).__name__} not allowed in JSON vectors")


def js_json(value: Any) -> str:
    """JSON text exactly as ECMAScript JSON.stringify writes it (for the checked subset)."""
    _check_js_compatible(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------- MessagePack


def mp_encode(value: Any) -> bytes:
    """Minimal MessagePack encoder for map, str, int, float64, bool, nil and bin."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return _mp_int(value)
    if isinstance(value, float):
        if value.is_integer():
            # A JS number with an integral value is an integer to every JS encoder.
            raise ValueError(f"integral float {value!r}: use an int")
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        n = len(data)
        if n < 32:
            head = bytes([0xA0 | n])
        elif n < 0x100:
            head = b"\xd9" + struct.pack(">B", n)
        elif n < 0x10000:
            head = b"\xda" + struct.pack(">H", n)
        else:
            raise ValueError("string too long for the vectors")
        return head + data
    if isinstance(value, (bytes, bytearray)):
        n = len(value)
        if n < 0x100:
            head = b"\xc4" + struct.pack(">B", n)
        elif n < 0x10000:
            head = b"\xc5" + struct.pack(">H", n)
        else:
            raise ValueError("bin too long for the vectors")
        return head + bytes(value)
    if isinstance(value, dict):
        n = len(value)
        if n < 16:
            head = bytes([0x80 | n])
        elif n < 0x10000:
            head = b"\xde" + struct.pack(">H", n)
        else:
            raise ValueError("map too large for the vectors")
        out = bytearray(head)
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError("map keys must be strings")
            out += mp_encode(k)
            out += mp_encode(v)
        return bytes(out)
    raise ValueError(f"type {type(value).__name__} not supported by the vector encoder")


def _mp_int(n: int) -> bytes:
    if 0 <= n <= 0x7F:
        return bytes([n])
    if -32 <= n < 0:
        return bytes([0x100 + n])  # negative fixint 0xe0-0xff
    if 0 <= n <= 0xFF:
        return b"\xcc" + struct.pack(">B", n)
    if 0 <= n <= 0xFFFF:
        return b"\xcd" + struct.pack(">H", n)
    if 0 <= n <= 0xFFFFFFFF:
        return b"\xce" + struct.pack(">I", n)
    if -0x80 <= n < 0:
        return b"\xd0" + struct.pack(">b", n)
    if -0x8000 <= n < 0:
        return b"\xd1" + struct.pack(">h", n)
    if -0x80000000 <= n < 0:
        return b"\xd2" + struct.pack(">i", n)
    if -(2**63) <= n < 2**63:
        return b"\xd3" + struct.pack(">q", n)
    raise ValueError(f"integer {n} does not fit int64")


# --------------------------------------------------------------------------- framing


class Framing:
    def __init__(self, name: str) -> None:
        self.name = name
        presets = {
            "lp32-json": "lp:4:be:body:-:json",
            "lp32-msgpack": "lp:4:be:body:-:msgpack",
        }
        if name == "ndjson":
            self.kind, self.codec = "ndjson", "json"
            return
        parts = presets.get(name, name).split(":")
        assert len(parts) == 6 and parts[0] == "lp", name
        _, width, endian, includes, header_hex, codec = parts
        self.kind = "lp"
        self.prefix_bytes = int(width)
        self.endian = endian
        self.includes = includes
        self.header = b"" if header_hex == "-" else bytes.fromhex(header_hex)
        self.codec = codec

    def encode_body(self, value: Any) -> bytes:
        return js_json(value).encode("utf-8") if self.codec == "json" else mp_encode(value)

    def frame(self, body: bytes) -> bytes:
        if self.kind == "ndjson":
            assert b"\n" not in body
            return body + b"\n"
        length = len(self.header) + len(body) + (self.prefix_bytes if self.includes == "frame" else 0)
        fmt = (">" if self.endian == "be" else "<") + ("H" if self.prefix_bytes == 2 else "I")
        return struct.pack(fmt, length) + self.header + body


# --------------------------------------------------------------------------- auth


def hmac_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def to_json_view(value: Any) -> Any:
    """The envelope as JSON: bytes become {"$bin": "<hex>"}."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, dict):
        return {k: to_json_view(v) for k, v in value.items()}
    return value


def make_vector(framing: Framing, auth: str, secret: str, spec: dict[str, Any]) -> dict[str, Any]:
    signal = spec["signal"]
    env: dict[str, Any] = {}
    if "id" in spec:
        env["id"] = spec["id"]
    signed: bytes | None = None
    signature: str | None = None
    if auth in ("none", "hmac-json"):
        env["signal"] = signal
        if auth == "hmac-json":
            signed = js_json(signal).encode("utf-8")
            signature = hmac_hex(secret, signed)
            env["signature"] = signature
    elif auth == "hmac-v2":
        ts, nonce = spec["ts"], spec["nonce"]
        if spec.get("binBody"):
            assert framing.codec == "msgpack", "a bin body needs a MessagePack envelope"
            body: str | bytes = mp_encode(signal)
            body_bytes = body
        else:
            body = js_json(signal)
            body_bytes = body.encode("utf-8")
        signed = f"{ts}.{nonce}.".encode("ascii") + body_bytes
        signature = hmac_hex(secret, signed)
        env.update({"ts": ts, "nonce": nonce, "body": body, "sig": signature})
    else:
        raise ValueError(auth)
    frame = framing.frame(framing.encode_body(env))
    vector: dict[str, Any] = {
        "name": spec["name"],
        "envelope": to_json_view(env),
        "signal": signal,
        "frameHex": frame.hex(),
    }
    if signed is not None:
        vector["signedBytesHex"] = signed.hex()
    vector["signature"] = signature
    return vector


# --------------------------------------------------------------------------- vector inputs

TS = 1_700_000_000_000  # hmac-v2 `ts` of every vector; verify with nowMs = TS

PREPARE = {
    "type": "PREPARE",
    "signal_id": "sig-0001",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "qty": 0.1,
    "leverage": 20,
    "price": 43250.5,
}
CONFIRM = {"type": "CONFIRM", "signal_id": "sig-0001"}
ABORT = {"type": "ABORT", "signal_id": "sig-0002", "reason": "opérateur: arrêt — ✋ 🚀 市場"}
PREPARE_SELL = {
    "type": "PREPARE",
    "signal_id": "sig-0003",
    "symbol": "ETH-PERP",
    "side": "Sell",
    "qty": 2.5,
    "timestamp": 1_700_000_000_123,
    "delay_ms": 250,
}
STATUS = {"type": "STATUS"}

# 16 keys (map16), every integer width, bool, nil, float64 and a str16 (>255 UTF-8 bytes).
KITCHEN_SINK = {
    "type": "PREPARE",
    "signal_id": "sig-map16-" + "x" * 22,  # 32 bytes: str8
    "symbol": "SOLUSDT",
    "side": "Buy",
    "qty": 1000,  # uint16
    "leverage": 1.5,
    "price": 70000,  # uint32
    "timestamp": 1_700_000_000_456,  # int64
    "delay_ms": 200,  # uint8
    "post_only": True,
    "reduce_only": False,
    "client_tag": None,
    "offset_a": -5,  # negative fixint
    "offset_b": -100,  # int8
    "offset_c": -200,  # int16
    "offset_d": -70000,  # int32
}
LONG_ABORT = {"type": "ABORT", "signal_id": "sig-0004", "reason": "manual stop; " * 20 + "é" * 10}  # str16


def v2(spec: dict[str, Any], n: int) -> dict[str, Any]:
    return {**spec, "ts": TS, "nonce": f"golden-nonce-{n:04d}"}


def vector_specs(framing: Framing, auth: str) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = [
        {"name": "prepare-with-string-id", "id": "req-1", "signal": PREPARE},
        {"name": "confirm-with-integer-id", "id": 42, "signal": CONFIRM},
        {"name": "abort-unicode-reason-without-id", "signal": ABORT},
        {"name": "prepare-sell-timestamp-delay", "id": "req-3", "signal": PREPARE_SELL},
        {"name": "status", "id": 0, "signal": STATUS},
    ]
    if framing.codec == "msgpack" and auth == "none":
        specs.append({"name": "map16-all-integer-widths", "id": 70000, "signal": KITCHEN_SINK})
        specs.append({"name": "abort-str16-reason", "id": "req-5", "signal": LONG_ABORT})
    if auth == "hmac-v2":
        specs = [v2(s, i + 1) for i, s in enumerate(specs)]
        if framing.codec == "msgpack":
            specs.append({**v2({"name": "prepare-bin-body", "id": "req-6", "signal": PREPARE}, 99), "binBody": True})
    return specs


FILES: list[tuple[str, str]] = [
    (f, a) for f in ("ndjson", "lp32-json", "lp32-msgpack") for a in ("none", "hmac-json", "hmac-v2")
] + [
    ("lp:2:le:frame:01:json", "hmac-v2"),
    ("lp:4:be:body:01ff:msgpack", "hmac-json"),
    ("lp:4:be:body:01ff:msgpack", "hmac-v2"),
    ("lp:2:be:body:-:msgpack", "none"),
]


def file_name(framing: str, auth: str) -> str:
    return f"{framing.replace(':', '_')}.{auth}.json"


def build(framing_name: str, auth: str) -> dict[str, Any]:
    framing = Framing(framing_name)
    vectors = [make_vector(framing, auth, SECRET, s) for s in vector_specs(framing, auth)]
    return {
        "description": (
            f"Golden request frames for framing {framing_name} and auth {auth} (docs/SPEC.md §3, §4, §9). "
            "Generated by scripts/gen-vectors.py independently of the TypeScript codecs; do not edit by hand."
            + (f" hmac-v2: verify with nowMs = {TS}." if auth == "hmac-v2" else "")
        ),
        "framing": framing_name,
        "auth": auth,
        "secret": SECRET,
        "vectors": vectors,
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    ap.add_argument("--out", type=Path, default=REPO / "fixtures" / "vectors")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    for framing_name, auth in FILES:
        path = out / file_name(framing_name, auth)
        text = render(build(framing_name, auth))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} ({len(text)} bytes)")
    if stale:
        print("out of date (run python3 scripts/gen-vectors.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
