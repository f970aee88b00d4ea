#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Cross-check qtoken attestation records with an independent JOSE
implementation (python3-jwcrypto) and an independent chain check (hashlib),
as attest/FORMAT.md promises: no qtoken code is used to verify.

  test_attest_jose.py --mklog PATH   build logs with PATH (tests' att_mklog)
                                     for P-256 and Ed25519, verify them
  test_attest_jose.py --log FILE --pubkey PEM [--serial S]
                                     verify an exported log (ceremony bundle)

Ends with the line 'N passed, N failed'; exit status 0 iff nothing failed."""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

try:
    from jwcrypto import jwk, jws
    from jwcrypto.common import JWException
    from cryptography.hazmat.primitives import serialization
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def b64url_decode(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_one(key, token):
    """jwcrypto verification of one compact JWS; returns the payload or None."""
    obj = jws.JWS()
    try:
        obj.deserialize(token)
        obj.allowed_algs = ["ES256", "EdDSA"]
        obj.verify(key)
    except JWException:
        return None
    return json.loads(obj.payload)


def verify_log(path, pem, serial=None, label=""):
    key = jwk.JWK.from_pem(pem)
    pub = serialization.load_pem_public_key(pem)
    spki = pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(spki).hexdigest()
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    check(len(lines) > 0, label + "log is empty")
    prev = "0" * 64
    first_serial = None
    for i, line in enumerate(lines):
        token = line["jws"]
        payload = verify_one(key, token)
        check(payload is not None, "%srecord %d: jwcrypto rejects the signature" % (label, i + 1))
        if payload is None:
            return
        hdr = json.loads(b64url_decode(token.split(".")[0]))
        alg = "EdDSA" if key.get("kty") == "OKP" else "ES256"
        check(hdr.get("alg") == alg, "%srecord %d: alg %r" % (label, i + 1, hdr.get("alg")))
        check(hdr.get("kid") == kid, "%srecord %d: kid is not the key's SPKI SHA-256" %
              (label, i + 1))
        check(len(b64url_decode(token.split(".")[2])) == 64,
              "%srecord %d: signature is not 64 bytes (R||S)" % (label, i + 1))
        check(payload.get("v") == 1 and payload.get("seq") == i + 1 == line["seq"],
              "%srecord %d: v/seq wrong: %r" % (label, i + 1, payload.get("seq")))
        check(payload.get("prev") == prev, "%srecord %d: prev does not chain" % (label, i + 1))
        if i == 0:
            check(payload.get("event") == "token-init", label + "first record is not token-init")
            first_serial = payload["token"]["serial"]
            if serial is not None:
                check(first_serial == serial, label + "token serial %r" % first_serial)
        check(payload["token"]["serial"] == first_serial, "%srecord %d: token" % (label, i + 1))
        for fld in ("event", "time", "token"):
            check(fld in payload, "%srecord %d: no %s" % (label, i + 1, fld))
        if payload.get("event") in ("keypair-generate", "key-generate", "key-import"):
            k = payload.get("key", {})
            check("attributes" in k and ("spki_sha256" in k or "kcv" in k or "id" in k),
                  "%srecord %d: key description incomplete" % (label, i + 1))
        if payload.get("event") == "session-keys":
            # FORMAT.md 2.5: the keys of session objects, each described as
            # its own record's "key" plus its generation event, time, evidence
            keys = payload.get("keys")
            check(isinstance(keys, list) and len(keys) > 0,
                  "%srecord %d: session-keys without keys" % (label, i + 1))
            policies = payload.get("policies")
            check(isinstance(policies, list) and len(policies) > 0 and
                  all(isinstance(x, dict) for x in policies),
                  "%srecord %d: session-keys without policies" % (label, i + 1))
            for j, k in enumerate(keys or []):
                pol = k.get("policy")
                check(k.get("event") in ("keypair-generate", "key-generate") and "time" in k and
                      isinstance(k.get("bits_drawn"), int) and
                      isinstance(k.get("prediction_resistance"), bool) and
                      isinstance(pol, int) and not isinstance(pol, bool) and
                      0 <= pol < len(policies or []) and
                      (("spki_sha256" in k) if k.get("kind") == "pair" else ("kcv" in k)),
                      "%srecord %d: session key %d description incomplete: %r" %
                      (label, i + 1, j, k))
        ent = payload.get("entropy")
        if ent is not None:
            check(isinstance(ent.get("simulated"), bool) and "h_declared" in ent,
                  "%srecord %d: entropy evidence incomplete" % (label, i + 1))
        prev = hashlib.sha256(token.encode()).hexdigest()
    return lines, key


def tamper_checks(lines, key, label):
    token = lines[-1]["jws"]
    h, p, s = token.split(".")
    payload = json.loads(b64url_decode(p))
    payload["seq"] += 1
    import base64
    forged_p = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    check(verify_one(key, h + "." + forged_p + "." + s) is None,
          label + "jwcrypto accepts a changed payload")
    other = jwk.JWK.generate(kty="EC", crv="P-256") if key.get("kty") == "EC" else \
        jwk.JWK.generate(kty="OKP", crv="Ed25519")
    check(verify_one(other, token) is None, label + "jwcrypto accepts another key")


def session_key_checks(lines, key, d, label):
    """The last record is att_mklog's session-keys record: session-0.pem's
    key is its entry 0, found by the SPKI SHA-256 as any verifier computes it."""
    payload = verify_one(key, lines[-1]["jws"])
    check(payload is not None and payload.get("event") == "session-keys" and
          len(payload.get("keys", [])) == 3, label + "last record is not a 3-key session-keys")
    if payload is None:
        return
    with open(os.path.join(d, "session-0.pem"), "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    fp = hashlib.sha256(pub.public_bytes(serialization.Encoding.DER,
                        serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    found = [j for j, k in enumerate(payload.get("keys", [])) if k.get("spki_sha256") == fp]
    check(found == [0], label + "session key 0 not found by its SPKI SHA-256: %r" % found)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mklog")
    ap.add_argument("--log")
    ap.add_argument("--pubkey")
    ap.add_argument("--serial")
    a = ap.parse_args()
    if a.mklog:
        for kind in ("p256", "ed25519"):
            with tempfile.TemporaryDirectory(prefix="qt-jose-") as d:
                # 5 records, then a session-keys record of 3 keys
                r = subprocess.run([a.mklog, d, kind, "5", "3"])
                check(r.returncode == 0, "att_mklog %s failed" % kind)
                if r.returncode != 0:
                    continue
                with open(os.path.join(d, "pub.pem"), "rb") as f:
                    pem = f.read()
                res = verify_log(os.path.join(d, "log.jsonl"), pem, "JOSE-TEST-0001", kind + ": ")
                if res:
                    tamper_checks(res[0], res[1], kind + ": ")
                    session_key_checks(res[0], res[1], d, kind + ": ")
    elif a.log and a.pubkey:
        with open(a.pubkey, "rb") as f:
            pem = f.read()
        res = verify_log(a.log, pem, a.serial)
        if res:
            tamper_checks(res[0], res[1], "")
    else:
        ap.error("--mklog PATH or --log FILE --pubkey PEM")
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
