#!/usr/bin/env python3
"""Checks an ikrar inclusion proof bundle with standard tools only: hashlib and the
`cryptography` package's Ed25519. Usage: check_bundle.py BUNDLE.json VERIFIER_KEY_FILE"""
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

bundle = json.load(open(sys.argv[1]))
name, key_id_hex, key_b64 = open(sys.argv[2]).read().strip().split("+", 2)
key = base64.b64decode(key_b64)
assert key[0] == 1 and len(key) == 33, "an Ed25519 verifier key"
assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id_hex

# The signed note: text, blank line, signature lines "— <name> <base64(key id || sig)>".
text, sigs = bundle["checkpoint"].rsplit("\n\n", 1)
text += "\n"
ok = False
for line in sigs.strip("\n").split("\n"):
    _, sig_name, sig_b64 = line.split(" ")
    raw = base64.b64decode(sig_b64)
    if sig_name == name and raw[:4].hex() == key_id_hex:
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
        ok = True
assert ok, "no signature by this key"
origin, size, root_b64 = text.split("\n")[:3]
size, root = int(size), base64.b64decode(root_b64)
assert origin == name and size == bundle["tree_size"]

# RFC 9162 §2.1.3.2: verify the inclusion of the record at `position` in a tree of `size`.
h = lambda b: hashlib.sha256(b).digest()
fn, sn, r = bundle["position"], size - 1, h(b"\x00" + bundle["record"].encode())
assert fn <= sn
for p in bundle["inclusion"]:
    p = base64.b64decode(p)
    assert sn != 0, "proof too long"
    if fn % 2 == 1 or fn == sn:
        r = h(b"\x01" + p + r)
        if fn % 2 == 0:
            while fn % 2 == 0 and fn != 0:
                fn >>= 1; sn >>= 1
    else:
        r = h(b"\x01" + r + p)
    fn >>= 1; sn >>= 1
assert sn == 0 and r == root, "the proof does not lead to the signed root"
print(f"ok: position {bundle['position']} is in the tree of size {size} signed by {origin}")
