#!/usr/bin/env python3
"""Verify a Citadel audit export (JSONL) without Citadel.

Usage: python3 verify_audit_export.py EXPORT.jsonl

Recomputes every event's SHA-256 over its canonical JSON, checks the chain links and sequence
numbers, and checks each signed checkpoint against the chain. Ed25519 signatures are verified
when the `cryptography` package is installed (otherwise they are reported as unchecked).
Exit code: 0 intact, 1 tampered, 2 unreadable input. See docs/AUDIT-VERIFY.md for the rules.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64
EVENT_FIELDS = ("seq", "time", "actor_id", "actor_name", "action", "securable", "params",
                "outcome", "reason", "request_id", "prev_hash")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(event):
    return hashlib.sha256(canonical({k: event[k] for k in EVENT_FIELDS})).hexdigest()


def checkpoint_message(cp):
    return f"citadel-audit-checkpoint-v1\n{cp['seq']}\n{cp['head_hash']}\n{cp['time']}".encode("utf-8")


def signature_checker(public_key_hex):
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))

    def check(cp):
        try:
            key.verify(bytes.fromhex(cp["signature"]), checkpoint_message(cp))
            return True
        except (InvalidSignature, ValueError):
            return False
    return check


def fail(seq, what):
    print(f"FAIL seq {seq}: {what}")
    sys.exit(1)


def main(path):
    header, events, checkpoints = None, [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                obj = json.loads(line)
                kind = obj.get("type")
                if kind == "header":
                    header = obj
                elif kind == "event":
                    events.append(obj)
                elif kind == "checkpoint":
                    checkpoints.append(obj)
                else:
                    raise ValueError(f"line {number}: unknown type {kind!r}")
    except (OSError, ValueError) as e:
        print(f"ERROR: {e}")
        sys.exit(2)
    if header is None:
        print("ERROR: no header line with the public key")
        sys.exit(2)

    public_key = header["public_key"]
    key_id = hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]
    check_signature = signature_checker(public_key)

    hashes = {}
    prev = events[0]["prev_hash"] if events and events[0]["seq"] != 1 else GENESIS
    expected = events[0]["seq"] if events else 1
    if events and events[0]["seq"] != 1:
        print(f"note: segment export starting at seq {expected}; its first link is taken as given")
    for event in events:
        seq = event["seq"]
        if seq != expected:
            fail(expected, f"expected seq {expected}, found {seq} (event deleted, inserted or reordered)")
        if event["prev_hash"] != prev:
            fail(seq, "prev_hash does not match the previous event's hash (chain broken)")
        if event_hash(event) != event["hash"]:
            fail(seq, "hash does not match the event's content (event edited)")
        hashes[seq] = event["hash"]
        prev = event["hash"]
        expected = seq + 1
    last = expected - 1

    unchecked = 0
    for cp in sorted(checkpoints, key=lambda c: c["seq"]):
        if cp["key_id"] != key_id:
            fail(cp["seq"], "checkpoint signed by another key")
        if check_signature is None:
            unchecked += 1
        elif not check_signature(cp):
            fail(cp["seq"], "bad checkpoint signature")
        if cp["seq"] > last:
            fail(last + 1, f"chain ends at seq {last} but a checkpoint covers seq {cp['seq']} (truncated)")
        if cp["seq"] in hashes and hashes[cp["seq"]] != cp["head_hash"]:
            fail(cp["seq"], "checkpoint head hash does not match the chain")

    print(f"OK: {len(events)} events, {len(checkpoints)} checkpoints, head seq {last} hash {prev}")
    if unchecked:
        print(f"warning: {unchecked} checkpoint signatures not checked (pip install cryptography)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip())
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
