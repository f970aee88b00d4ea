#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Replay of the HashiCorp Vault / OpenBao PKCS#11 seals against a module.

Usage: test_vault_seal.py MODULE.so   (or $QTOKEN_PKCS11_MODULE)

The seals drive the token through github.com/miekg/pkcs11; this replays their
call sequences with python3-pykcs11 (plus ctypes where PyKCS11 cannot express
the call, see below):

- C_Initialize with CKF_OS_LOCKING_OK (miekg's Initialize).  PyKCS11 1.5
  calls C_Initialize(NULL), so the module is initialised first through its
  function list with the flag, and PyKCS11's own call then gets
  CKR_CRYPTOKI_ALREADY_INITIALIZED, which it accepts.
- The slot found by token label (C_GetSlotList(present) + C_GetTokenInfo).
- The old OpenBao client (pkcs11_client.go): per operation a new RW session,
  C_Login, the operation, C_Logout, C_CloseSession.
- The new OpenBao pool (pool.go): one long logged-in session, other sessions
  opened read-only beside it and shared by concurrent workers.
- Find-or-generate by label (Vault's generate_key): an AES-256 key, a 32-byte
  generic-secret HMAC key and an RSA-2048 pair, token/private/sensitive/not
  extractable; FindObjects asks for 2 objects and wants exactly 1.
- CKM_AES_GCM with a 12-byte IV from C_GenerateRandom and a 128-bit tag; the
  caller's IV is left untouched; C_Encrypt/C_Decrypt with the length query
  first.  CKM_AES_CBC_PAD and CKM_AES_CBC (caller-padded), each with a
  16-byte IV and CKM_SHA256_HMAC over IV || ciphertext (verify before
  decrypt).  CKM_RSA_PKCS_OAEP with SHA-256 / MGF1-SHA256, encrypting with
  the token public key and in software (OpenBao's default).
- Eight threads on their own sessions: PyKCS11 holds the GIL inside every
  call, so a second set of eight threads calls the function list through
  ctypes (which releases the GIL) and really runs inside the module at once.
- Several processes at once (multiprocessing, spawn): each initialises,
  logs in and works on the keys the parent made; ciphertexts cross between
  processes both ways.

Every decrypt must round-trip and every tampered ciphertext must fail.  The
final line is 'N passed, N failed'; the exit status is non-zero on failure.
"""

import ctypes
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback

import PyKCS11
from PyKCS11 import PyKCS11Error
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TOKEN_LABEL = "vault-seal"
SO_PIN = "87654321"
USER_PIN = "12345678"
AES_LABEL = "vault-aes-key"
HMAC_LABEL = "vault-hmac-key"
RSA_LABEL = "vault-rsa-key"
GCM_IV_LEN = 12
GCM_TAG_BITS = 128
N_THREADS = 8
N_PROCS = 3
ITERATIONS = 6

# ---------------------------------------------------------------------------
# Results


class Checks:
    """Counts checks; prints one line per check."""

    def __init__(self, prefix=""):
        self.passed = 0
        self.failed = 0
        self.prefix = prefix
        self.lock = threading.Lock()
        self.lines = []

    def ok(self, cond, desc, detail=""):
        with self.lock:
            if cond:
                self.passed += 1
                line = "ok   - %s%s" % (self.prefix, desc)
            else:
                self.failed += 1
                line = "FAIL - %s%s%s" % (self.prefix, desc, (": " + detail) if detail else "")
            self.lines.append(line)
            print(line, flush=True)
        return cond

    def merge(self, passed, failed):
        with self.lock:
            self.passed += passed
            self.failed += failed


def rv_name(rv):
    return PyKCS11.CKR.get(rv, hex(rv) if isinstance(rv, int) else str(rv))


def expect_error(fn, codes):
    """Runs fn; returns (True, name) if it raised PyKCS11Error with a code in codes."""
    try:
        fn()
    except PyKCS11Error as e:
        return e.value in codes, rv_name(e.value)
    return False, "succeeded"


# ---------------------------------------------------------------------------
# The module's function list through ctypes (what PyKCS11 cannot do)

CK_ULONG = ctypes.c_ulong
CK_RV = ctypes.c_ulong
CKF_OS_LOCKING_OK = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_RW_SESSION = 0x2

FUNCTIONS = [
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
    "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo",
    "C_InitToken", "C_InitPIN", "C_SetPIN", "C_OpenSession", "C_CloseSession",
    "C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState", "C_SetOperationState",
    "C_Login", "C_Logout", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
    "C_GetObjectSize", "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit",
    "C_FindObjects", "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate",
    "C_EncryptFinal", "C_DecryptInit", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal",
    "C_DigestInit", "C_Digest", "C_DigestUpdate", "C_DigestKey", "C_DigestFinal",
    "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_SignRecoverInit",
    "C_SignRecover", "C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal",
    "C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
    "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
    "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus", "C_CancelFunction",
    "C_WaitForSlotEvent",
]


class CK_VERSION(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class CK_FUNCTION_LIST(ctypes.Structure):
    _fields_ = [("version", CK_VERSION)] + [(n, ctypes.c_void_p) for n in FUNCTIONS]


class CK_C_INITIALIZE_ARGS(ctypes.Structure):
    _fields_ = [("CreateMutex", ctypes.c_void_p), ("DestroyMutex", ctypes.c_void_p),
                ("LockMutex", ctypes.c_void_p), ("UnlockMutex", ctypes.c_void_p),
                ("flags", CK_ULONG), ("pReserved", ctypes.c_void_p)]


class CK_MECHANISM(ctypes.Structure):
    _fields_ = [("mechanism", CK_ULONG), ("pParameter", ctypes.c_void_p),
                ("ulParameterLen", CK_ULONG)]


class CK_GCM_PARAMS(ctypes.Structure):
    _fields_ = [("pIv", ctypes.c_void_p), ("ulIvLen", CK_ULONG), ("ulIvBits", CK_ULONG),
                ("pAAD", ctypes.c_void_p), ("ulAADLen", CK_ULONG), ("ulTagBits", CK_ULONG)]


PTR = ctypes.c_void_p
PULONG = ctypes.POINTER(CK_ULONG)
PMECH = ctypes.POINTER(CK_MECHANISM)
SIGNATURES = {
    "C_Initialize": [PTR],
    "C_OpenSession": [CK_ULONG, CK_ULONG, PTR, PTR, PULONG],
    "C_CloseSession": [CK_ULONG],
    "C_GenerateRandom": [CK_ULONG, PTR, CK_ULONG],
    "C_EncryptInit": [CK_ULONG, PMECH, CK_ULONG],
    "C_Encrypt": [CK_ULONG, PTR, CK_ULONG, PTR, PULONG],
    "C_DecryptInit": [CK_ULONG, PMECH, CK_ULONG],
    "C_Decrypt": [CK_ULONG, PTR, CK_ULONG, PTR, PULONG],
    "C_SignInit": [CK_ULONG, PMECH, CK_ULONG],
    "C_Sign": [CK_ULONG, PTR, CK_ULONG, PTR, PULONG],
    "C_VerifyInit": [CK_ULONG, PMECH, CK_ULONG],
    "C_Verify": [CK_ULONG, PTR, CK_ULONG, PTR, CK_ULONG],
}


class RawModule:
    """The few C_* calls the replay makes without PyKCS11 (GIL released)."""

    def __init__(self, path):
        self.dll = ctypes.CDLL(path)
        get = self.dll.C_GetFunctionList
        get.restype = CK_RV
        get.argtypes = [ctypes.POINTER(ctypes.POINTER(CK_FUNCTION_LIST))]
        fl = ctypes.POINTER(CK_FUNCTION_LIST)()
        rv = get(ctypes.byref(fl))
        if rv != 0:
            raise PyKCS11Error(rv, "C_GetFunctionList")
        self.fl = fl.contents
        for name, args in SIGNATURES.items():
            addr = getattr(self.fl, name)
            if not addr:
                raise RuntimeError("%s is NULL in the function list" % name)
            setattr(self, name, ctypes.CFUNCTYPE(CK_RV, *args)(addr))

    def initialize_os_locking(self):
        args = CK_C_INITIALIZE_ARGS(None, None, None, None, CKF_OS_LOCKING_OK, None)
        return self.C_Initialize(ctypes.cast(ctypes.pointer(args), PTR))

    def open_session(self, slot, flags):
        h = CK_ULONG(0)
        rv = self.C_OpenSession(slot, flags, None, None, ctypes.byref(h))
        if rv != 0:
            raise PyKCS11Error(rv, "C_OpenSession")
        return h.value

    def random(self, session, n):
        buf = ctypes.create_string_buffer(n)
        rv = self.C_GenerateRandom(session, buf, n)
        if rv != 0:
            raise PyKCS11Error(rv, "C_GenerateRandom")
        return buf.raw

    def _two_call(self, fn, session, data):
        """miekg/pkcs11's pattern: C_X(NULL) for the length, then C_X(buf)."""
        inbuf = ctypes.create_string_buffer(bytes(data), len(data))
        n = CK_ULONG(0)
        rv = fn(session, inbuf, len(data), None, ctypes.byref(n))
        if rv != 0:
            raise PyKCS11Error(rv, "length query")
        out = ctypes.create_string_buffer(max(n.value, 1))
        rv = fn(session, inbuf, len(data), out, ctypes.byref(n))
        if rv != 0:
            raise PyKCS11Error(rv, "data call")
        return out.raw[:n.value]

    def gcm(self, session, key, iv, data, encrypt):
        ivbuf = ctypes.create_string_buffer(bytes(iv), len(iv))
        params = CK_GCM_PARAMS(ctypes.cast(ivbuf, PTR), len(iv), len(iv) * 8, None, 0,
                               GCM_TAG_BITS)
        mech = CK_MECHANISM(PyKCS11.CKM_AES_GCM, ctypes.cast(ctypes.pointer(params), PTR),
                            ctypes.sizeof(params))
        init, op = ((self.C_EncryptInit, self.C_Encrypt) if encrypt
                    else (self.C_DecryptInit, self.C_Decrypt))
        rv = init(session, ctypes.byref(mech), int(key.value()))
        if rv != 0:
            raise PyKCS11Error(rv, "GCM init")
        out = self._two_call(op, session, data)
        return out, ivbuf.raw

    def hmac(self, session, key, data):
        mech = CK_MECHANISM(PyKCS11.CKM_SHA256_HMAC, None, 0)
        rv = self.C_SignInit(session, ctypes.byref(mech), int(key.value()))
        if rv != 0:
            raise PyKCS11Error(rv, "C_SignInit")
        return self._two_call(self.C_Sign, session, data)

    def hmac_verify(self, session, key, data, mac):
        mech = CK_MECHANISM(PyKCS11.CKM_SHA256_HMAC, None, 0)
        rv = self.C_VerifyInit(session, ctypes.byref(mech), int(key.value()))
        if rv != 0:
            raise PyKCS11Error(rv, "C_VerifyInit")
        return self.C_Verify(session, bytes(data), len(data), bytes(mac), len(mac))


# ---------------------------------------------------------------------------
# Setup


def make_env(tmp):
    """Private store for qtoken and SoftHSM2 alike; returns the environment."""
    store = os.path.join(tmp, "store")
    shsm = os.path.join(tmp, "softhsm")
    os.makedirs(store)
    os.makedirs(shsm)
    with open(os.path.join(tmp, "qtoken.conf"), "w") as f:
        f.write("[store]\npath = %s\n[device]\nspec = sim\n"
                "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\n" % store)
    with open(os.path.join(tmp, "softhsm2.conf"), "w") as f:
        f.write("directories.tokendir = %s\nobjectstore.backend = file\n"
                "log.level = ERROR\nslots.removable = false\n" % shsm)
    os.environ["QTOKEN_STORE"] = store
    os.environ["QTOKEN_CONF"] = os.path.join(tmp, "qtoken.conf")
    os.environ["QTOKEN_DEVICE"] = "sim"
    os.environ["SOFTHSM2_CONF"] = os.path.join(tmp, "softhsm2.conf")


def init_token(module, checks):
    base = ["pkcs11-tool", "--module", module]
    steps = [
        ("init token", base + ["--init-token", "--label", TOKEN_LABEL, "--so-pin", SO_PIN]),
        ("init user PIN", base + ["--token-label", TOKEN_LABEL, "--login", "--login-type", "so",
                                  "--so-pin", SO_PIN, "--init-pin", "--pin", USER_PIN]),
    ]
    for desc, cmd in steps:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if not checks.ok(r.returncode == 0, "pkcs11-tool %s" % desc,
                         (r.stdout + r.stderr).strip()[-500:]):
            return False
    return True


def load(module, checks):
    """miekg Initialize (CKF_OS_LOCKING_OK), then PyKCS11 on the same module."""
    raw = RawModule(module)
    rv = raw.initialize_os_locking()
    checks.ok(rv == PyKCS11.CKR_OK, "C_Initialize with CKF_OS_LOCKING_OK", rv_name(rv))
    rv2 = raw.initialize_os_locking()
    checks.ok(rv2 == PyKCS11.CKR_CRYPTOKI_ALREADY_INITIALIZED,
              "second C_Initialize gives CKR_CRYPTOKI_ALREADY_INITIALIZED", rv_name(rv2))
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)  # its C_Initialize(NULL) gets ALREADY_INITIALIZED, accepted
    return raw, lib


def find_slot(lib):
    """OpenBao GetSlotForLabel: present slots, first token with the label."""
    for slot in lib.getSlotList(tokenPresent=True):
        try:
            info = lib.getTokenInfo(slot)
        except PyKCS11Error:
            continue
        if info.label.strip() == TOKEN_LABEL:
            return slot
    return None


# ---------------------------------------------------------------------------
# Keys: find-or-generate by label


def find_by_label(session, label, cls):
    """FindObjectsInit(label, class), FindObjects(2), FindObjectsFinal."""
    tmpl = [(PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_CLASS, cls)]
    return session.findObjects(tmpl)


def secret_template(label, keytype, usage):
    return [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
        (PyKCS11.CKA_KEY_TYPE, keytype),
        (PyKCS11.CKA_VALUE_LEN, 32),
        (PyKCS11.CKA_LABEL, label),
        (PyKCS11.CKA_ID, label.encode()),
        (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_PRIVATE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_SENSITIVE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_EXTRACTABLE, PyKCS11.CK_FALSE),
    ] + [(a, PyKCS11.CK_TRUE) for a in usage]


def find_or_generate(session, kind):
    """Returns (handles, generated) for 'aes', 'hmac' or 'rsa'."""
    if kind == "aes":
        found = find_by_label(session, AES_LABEL, PyKCS11.CKO_SECRET_KEY)
        if found:
            return found, False
        tmpl = secret_template(AES_LABEL, PyKCS11.CKK_AES,
                               [PyKCS11.CKA_ENCRYPT, PyKCS11.CKA_DECRYPT,
                                PyKCS11.CKA_WRAP, PyKCS11.CKA_UNWRAP])
        return [session.generateKey(tmpl, PyKCS11.MechanismAESGENERATEKEY)], True
    if kind == "hmac":
        found = find_by_label(session, HMAC_LABEL, PyKCS11.CKO_SECRET_KEY)
        if found:
            return found, False
        tmpl = secret_template(HMAC_LABEL, PyKCS11.CKK_GENERIC_SECRET,
                               [PyKCS11.CKA_SIGN, PyKCS11.CKA_VERIFY])
        mech = PyKCS11.Mechanism(PyKCS11.CKM_GENERIC_SECRET_KEY_GEN, None)
        return [session.generateKey(tmpl, mech)], True
    found = find_by_label(session, RSA_LABEL, PyKCS11.CKO_PRIVATE_KEY)
    if found:
        return found, False
    pub = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
        (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_ENCRYPT, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_VERIFY, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_WRAP, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_MODULUS_BITS, 2048),
        (PyKCS11.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)),
        (PyKCS11.CKA_LABEL, RSA_LABEL),
        (PyKCS11.CKA_ID, RSA_LABEL.encode()),
    ]
    priv = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
        (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
        (PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_PRIVATE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_SENSITIVE, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_EXTRACTABLE, PyKCS11.CK_FALSE),
        (PyKCS11.CKA_DECRYPT, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_SIGN, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_UNWRAP, PyKCS11.CK_TRUE),
        (PyKCS11.CKA_LABEL, RSA_LABEL),
        (PyKCS11.CKA_ID, RSA_LABEL.encode()),
    ]
    pubh, privh = session.generateKeyPair(pub, priv, PyKCS11.MechanismRSAGENERATEKEYPAIR)
    return [privh], True


class Keys:
    """Handles of the three keys, looked up in a logged-in session."""

    def __init__(self, session):
        self.aes = self._one(session, AES_LABEL, PyKCS11.CKO_SECRET_KEY)
        self.hmac = self._one(session, HMAC_LABEL, PyKCS11.CKO_SECRET_KEY)
        self.rsa_priv = self._one(session, RSA_LABEL, PyKCS11.CKO_PRIVATE_KEY)
        self.rsa_pub = self._one(session, RSA_LABEL, PyKCS11.CKO_PUBLIC_KEY)
        n, e = session.getAttributeValue(self.rsa_pub, [PyKCS11.CKA_MODULUS,
                                                         PyKCS11.CKA_PUBLIC_EXPONENT])
        self.rsa_public = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                               int.from_bytes(bytes(n), "big")).public_key()

    @staticmethod
    def _one(session, label, cls):
        found = find_by_label(session, label, cls)
        if len(found) != 1:
            raise RuntimeError("%d objects with label %s class %d" % (len(found), label, cls))
        return found[0]


def check_key_attributes(checks, session, keys):
    bools = [PyKCS11.CKA_TOKEN, PyKCS11.CKA_PRIVATE, PyKCS11.CKA_SENSITIVE,
             PyKCS11.CKA_EXTRACTABLE, PyKCS11.CKA_ALWAYS_SENSITIVE,
             PyKCS11.CKA_NEVER_EXTRACTABLE, PyKCS11.CKA_LOCAL]
    want = [True, True, True, False, True, True, True]
    for name, h in (("AES", keys.aes), ("HMAC", keys.hmac), ("RSA private", keys.rsa_priv)):
        got = [bool(v) for v in session.getAttributeValue(h, bools)]
        checks.ok(got == want, "%s key: token, private, sensitive, not extractable, "
                  "always sensitive, never extractable, local" % name,
                  "got %s" % dict(zip([PyKCS11.CKA[a] for a in bools], got)))
    for name, h in (("AES", keys.aes), ("HMAC", keys.hmac)):
        vlen = session.getAttributeValue(h, [PyKCS11.CKA_VALUE_LEN])[0]
        checks.ok(vlen == 32, "%s key: CKA_VALUE_LEN 32" % name, "got %r" % vlen)
    for name, h, attr in (("AES", keys.aes, PyKCS11.CKA_VALUE),
                          ("HMAC", keys.hmac, PyKCS11.CKA_VALUE),
                          ("RSA private", keys.rsa_priv, PyKCS11.CKA_PRIVATE_EXPONENT)):
        tmpl = PyKCS11.LowLevel.ckattrlist(1)
        tmpl[0].SetType(attr)
        rv = session.lib.C_GetAttributeValue(session.session, h, tmpl)
        checks.ok(rv == PyKCS11.CKR_ATTRIBUTE_SENSITIVE,
                  "%s key: reading %s gives CKR_ATTRIBUTE_SENSITIVE" % (name, PyKCS11.CKA[attr]),
                  rv_name(rv))
    checks.ok(keys.rsa_public.key_size == 2048, "RSA public key is 2048 bits",
              str(keys.rsa_public.key_size))


# ---------------------------------------------------------------------------
# The seal operations on a PyKCS11 session


def tamper(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


def gcm_roundtrip(session, keys, plaintext):
    """OpenBao EncryptAESGCM / DecryptAESGCM; returns a list of (ok, desc, detail)."""
    out = []
    iv = bytes(session.generateRandom(GCM_IV_LEN))
    mech = PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)
    ct = bytes(session.encrypt(keys.aes, plaintext, mech))
    out.append((bytes(mech._source_iv) == iv, "GCM: the caller's IV is left untouched", ""))
    out.append((len(ct) == len(plaintext) + GCM_TAG_BITS // 8,
                "GCM: ciphertext is plaintext + 16-byte tag", "len %d" % len(ct)))
    pt = bytes(session.decrypt(keys.aes, ct, PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)))
    out.append((pt == plaintext, "GCM: decrypt round-trips", ""))
    good, name = expect_error(
        lambda: session.decrypt(keys.aes, tamper(ct),
                                PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)),
        (PyKCS11.CKR_ENCRYPTED_DATA_INVALID,))
    out.append((good, "GCM: tampered ciphertext gives CKR_ENCRYPTED_DATA_INVALID", name))
    good, name = expect_error(
        lambda: session.decrypt(keys.aes, ct,
                                PyKCS11.AES_GCM_Mechanism(tamper(iv), b"", GCM_TAG_BITS)),
        (PyKCS11.CKR_ENCRYPTED_DATA_INVALID,))
    out.append((good, "GCM: wrong IV gives CKR_ENCRYPTED_DATA_INVALID", name))
    return out, (iv, ct)


def pkcs7_pad(data):
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def pkcs7_unpad(data):
    n = data[-1]
    if n < 1 or n > 16 or data[-n:] != bytes([n]) * n:
        raise ValueError("bad padding")
    return data[:-n]


def cbc_hmac_seal(session, keys, plaintext, pad_in_token):
    iv = bytes(session.generateRandom(16))
    mechanism = PyKCS11.CKM_AES_CBC_PAD if pad_in_token else PyKCS11.CKM_AES_CBC
    data = plaintext if pad_in_token else pkcs7_pad(plaintext)
    ct = bytes(session.encrypt(keys.aes, data, PyKCS11.Mechanism(mechanism, iv)))
    mac = bytes(session.sign(keys.hmac, iv + ct, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC)))
    return iv, ct, mac


def cbc_hmac_open(session, keys, iv, ct, mac, pad_in_token):
    hmac_mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC)
    if not session.verify(keys.hmac, iv + ct, mac, hmac_mech):
        raise ValueError("HMAC verification failed")
    mechanism = PyKCS11.CKM_AES_CBC_PAD if pad_in_token else PyKCS11.CKM_AES_CBC
    pt = bytes(session.decrypt(keys.aes, ct, PyKCS11.Mechanism(mechanism, iv)))
    return pt if pad_in_token else pkcs7_unpad(pt)


def cbc_roundtrip(session, keys, plaintext, pad_in_token):
    name = "CBC_PAD+HMAC" if pad_in_token else "CBC+HMAC"
    out = []
    iv, ct, mac = cbc_hmac_seal(session, keys, plaintext, pad_in_token)
    out.append((len(mac) == 32, "%s: HMAC-SHA256 is 32 bytes" % name, "len %d" % len(mac)))
    expect_len = (len(plaintext) // 16 + 1) * 16
    out.append((len(ct) == expect_len, "%s: ciphertext length" % name,
                "%d, want %d" % (len(ct), expect_len)))
    pt = cbc_hmac_open(session, keys, iv, ct, mac, pad_in_token)
    out.append((pt == plaintext, "%s: open round-trips" % name, ""))
    hmac_mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC)
    ok_t = session.verify(keys.hmac, iv + tamper(ct), mac, hmac_mech) is False
    out.append((ok_t, "%s: tampered ciphertext fails the HMAC (CKR_SIGNATURE_INVALID)" % name,
                ""))
    ok_m = session.verify(keys.hmac, iv + ct, tamper(mac), hmac_mech) is False
    out.append((ok_m, "%s: tampered MAC fails (CKR_SIGNATURE_INVALID)" % name, ""))
    return out, (iv, ct, mac)


# Vault's rsa_oaep_hash, sha256 by default (what the seal uses); sha1 only to
# exercise the rest of the replay on modules without SHA-2 OAEP (SoftHSM 2.6).
OAEP_HASHES = {
    "sha256": (PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, hashes.SHA256),
    "sha1": (PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1, hashes.SHA1),
}
OAEP_HASH = OAEP_HASHES[os.environ.get("QT_VAULT_OAEP_HASH", "sha256")]


def oaep_mech():
    return PyKCS11.RSAOAEPMechanism(OAEP_HASH[0], OAEP_HASH[1])


def oaep_roundtrip(session, keys, plaintext):
    out = []
    ct = bytes(session.encrypt(keys.rsa_pub, plaintext, oaep_mech()))
    out.append((len(ct) == 256, "OAEP: token encryption gives 256 bytes", "len %d" % len(ct)))
    pt = bytes(session.decrypt(keys.rsa_priv, ct, oaep_mech()))
    out.append((pt == plaintext, "OAEP: token encrypt, token decrypt round-trips", ""))
    soft = keys.rsa_public.encrypt(plaintext, padding.OAEP(
        mgf=padding.MGF1(OAEP_HASH[2]()), algorithm=OAEP_HASH[2](), label=None))
    pt2 = bytes(session.decrypt(keys.rsa_priv, soft, oaep_mech()))
    out.append((pt2 == plaintext, "OAEP: software encrypt (OpenBao default), token decrypt", ""))
    good, name = expect_error(lambda: session.decrypt(keys.rsa_priv, tamper(ct), oaep_mech()),
                              (PyKCS11.CKR_ENCRYPTED_DATA_INVALID,))
    out.append((good, "OAEP: tampered ciphertext gives CKR_ENCRYPTED_DATA_INVALID", name))
    return out, ct


def guarded(name, fn, *args):
    """Runs one seal operation; a PKCS#11 error becomes a failed result."""
    try:
        return fn(*args)
    except (PyKCS11Error, ValueError) as e:
        detail = rv_name(e.value) if isinstance(e, PyKCS11Error) else str(e)
        return [(False, "%s: raised" % name, detail)], None


def all_ops(session, keys, size):
    """One round of every seal operation; returns [(ok, desc, detail)]."""
    results = []
    pt = os.urandom(size)
    results += guarded("GCM", gcm_roundtrip, session, keys, pt)[0]
    results += guarded("CBC_PAD+HMAC", cbc_roundtrip, session, keys, pt, True)[0]
    results += guarded("CBC+HMAC", cbc_roundtrip, session, keys, pt, False)[0]
    results += guarded("OAEP", oaep_roundtrip, session, keys, pt[:32])[0]
    return results


def record(checks, results, suffix=""):
    for ok, desc, detail in results:
        checks.ok(ok, desc + suffix, detail)


def summarize(checks, results, desc):
    """Many repeated results as one check (threads, processes)."""
    bad = [(d, x) for ok, d, x in results if not ok]
    checks.ok(not bad and results, "%s (%d checks)" % (desc, len(results)),
              "; ".join("%s %s" % b for b in bad[:5]))


# ---------------------------------------------------------------------------
# The flows


def per_operation_sessions(checks, lib, slot):
    """Old OpenBao Pkcs11Client: Open RW + Login ... Logout + Close per call."""

    def with_session(fn):
        s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        try:
            s.login(USER_PIN)
            try:
                return fn(s)
            finally:
                s.logout()
        finally:
            s.closeSession()

    for kind in ("aes", "hmac", "rsa"):
        handles, generated = with_session(lambda s: find_or_generate(s, kind))
        checks.ok(generated and len(handles) == 1, "%s key generated (not found first)" % kind)
        handles, generated = with_session(lambda s: find_or_generate(s, kind))
        checks.ok(not generated and len(handles) == 1,
                  "%s key found by label in a new session (no duplicate)" % kind,
                  "generated=%s n=%d" % (generated, len(handles)))

    def seal_gcm(s):
        keys = Keys(s)
        return gcm_roundtrip(s, keys, os.urandom(64))

    results, (iv, ct) = with_session(seal_gcm)
    record(checks, results, " (per-operation session)")

    def open_gcm(s):
        keys = Keys(s)
        return bytes(s.decrypt(keys.aes, ct, PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)))

    pt = with_session(open_gcm)
    checks.ok(len(pt) == 64, "GCM: sealed in one session, opened in another")

    def rnd(s):
        return bytes(s.generateRandom(32)), bytes(s.generateRandom(32))

    a, b = with_session(rnd)
    checks.ok(len(a) == 32 and a != b and a != bytes(32), "C_GenerateRandom gives fresh bytes")

    # After the last Logout + CloseSession nobody is logged in: private keys
    # are invisible to a public session.
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    try:
        info = s.getSessionInfo()
        checks.ok(info.state == PyKCS11.CKS_RO_PUBLIC_SESSION,
                  "after Logout a new session is CKS_RO_PUBLIC_SESSION",
                  PyKCS11.CKS.get(info.state, str(info.state)))
        found = find_by_label(s, AES_LABEL, PyKCS11.CKO_SECRET_KEY)
        checks.ok(len(found) == 0, "private AES key invisible without login",
                  "found %d" % len(found))
        try:
            checks.ok(len(bytes(s.generateRandom(12))) == 12,
                      "C_GenerateRandom works in a public session")
        except PyKCS11Error as e:
            checks.ok(False, "C_GenerateRandom works in a public session", rv_name(e.value))
    finally:
        s.closeSession()


def pooled_sessions(checks, lib, raw, slot):
    """New OpenBao pool: one long logged-in session, RO sessions beside it."""
    long_s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    long_s.login(USER_PIN)
    try:
        keys = Keys(long_s)
        check_key_attributes(checks, long_s, keys)
        record(checks, all_ops(long_s, keys, 100), " (long session)")

        # Sessions opened later share the login.
        others = [lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION) for _ in range(3)]
        states = [o.getSessionInfo().state for o in others]
        checks.ok(all(st == PyKCS11.CKS_RO_USER_FUNCTIONS for st in states),
                  "sessions opened beside the logged-in one are CKS_RO_USER_FUNCTIONS",
                  str([PyKCS11.CKS.get(st, st) for st in states]))
        # A seal in one session opens in another, while the long one lives.
        _, (iv, ct) = gcm_roundtrip(others[0], keys, b"root key material " * 2)
        pt = bytes(others[1].decrypt(keys.aes, ct,
                                     PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)))
        checks.ok(pt == b"root key material " * 2, "GCM: sealed in one pool session, "
                  "opened in another")
        _, (civ, cct, cmac) = cbc_roundtrip(others[1], keys, b"x" * 33, True)
        checks.ok(cbc_hmac_open(others[2], keys, civ, cct, cmac, True) == b"x" * 33,
                  "CBC_PAD+HMAC: sealed in one pool session, opened in another")
        for o in others:
            o.closeSession()
        checks.ok(long_s.getSessionInfo().state == PyKCS11.CKS_RO_USER_FUNCTIONS,
                  "closing the other sessions leaves the long session logged in")

        threads_pykcs11(checks, lib, slot, keys)
        threads_ctypes(checks, raw, slot, keys)
        processes(checks, lib, slot, keys, long_s)
    finally:
        long_s.logout()
        long_s.closeSession()


def threads_pykcs11(checks, lib, slot, keys):
    results = [[] for _ in range(N_THREADS)]
    errors = []

    def worker(i):
        try:
            s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
            try:
                for it in range(ITERATIONS // 2):
                    results[i] += all_ops(s, keys, 16 + 97 * i + it)
            finally:
                s.closeSession()
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            errors.append("thread %d: %s" % (i, e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    checks.ok(not errors, "%d PyKCS11 threads on their own sessions ran without error" %
              N_THREADS, "; ".join(errors[:3]))
    summarize(checks, [r for rs in results for r in rs],
              "%d PyKCS11 threads: every round-trip and tamper check" % N_THREADS)


def threads_ctypes(checks, raw, slot, keys):
    """Eight threads inside the module at once: GCM, HMAC, random via ctypes."""
    results = [[] for _ in range(N_THREADS)]
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def worker(i):
        try:
            try:
                h = raw.open_session(slot, CKF_SERIAL_SESSION)
            except Exception:
                barrier.abort()  # the others get BrokenBarrierError, not a hang
                raise
            try:
                barrier.wait(timeout=120)
                for it in range(ITERATIONS * 4):
                    pt = os.urandom(32 + 64 * it + i)
                    iv = raw.random(h, GCM_IV_LEN)
                    ct, iv_after = raw.gcm(h, keys.aes, iv, pt, True)
                    results[i].append((iv_after == iv, "ctypes GCM IV untouched", ""))
                    back, _ = raw.gcm(h, keys.aes, iv, ct, False)
                    results[i].append((back == pt, "ctypes GCM round-trip", ""))
                    try:
                        raw.gcm(h, keys.aes, iv, tamper(ct), False)
                        results[i].append((False, "ctypes GCM tamper", "decrypted"))
                    except PyKCS11Error as e:
                        results[i].append((e.value == PyKCS11.CKR_ENCRYPTED_DATA_INVALID,
                                           "ctypes GCM tamper", rv_name(e.value)))
                    mac = raw.hmac(h, keys.hmac, iv + ct)
                    rv = raw.hmac_verify(h, keys.hmac, iv + ct, mac)
                    results[i].append((rv == 0, "ctypes HMAC verify", rv_name(rv)))
                    rv = raw.hmac_verify(h, keys.hmac, iv + tamper(ct), mac)
                    results[i].append((rv == PyKCS11.CKR_SIGNATURE_INVALID,
                                       "ctypes HMAC tamper", rv_name(rv)))
            finally:
                raw.C_CloseSession(h)
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            errors.append("thread %d: %s" % (i, e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    checks.ok(not errors, "%d concurrent ctypes threads ran without error" % N_THREADS,
              "; ".join(errors[:3]))
    summarize(checks, [r for rs in results for r in rs],
              "%d concurrent ctypes threads: GCM/HMAC round-trips, tamper rejected" % N_THREADS)


def child_main(args):
    """One process of several: init, login, find keys, seal and open."""
    module, idx, parent_gcm, parent_oaep = args
    checks = Checks("[proc %d] " % idx)
    out = {"gcm": None, "cbc": None, "oaep": None, "error": None}
    try:
        raw, lib = load(module, checks)
        slot = find_slot(lib)
        checks.ok(slot is not None, "token found by label")
        s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
        s.login(USER_PIN)
        keys = Keys(s)
        # The parent's ciphertexts open here.
        iv, ct, want = parent_gcm
        pt = bytes(s.decrypt(keys.aes, ct, PyKCS11.AES_GCM_Mechanism(iv, b"", GCM_TAG_BITS)))
        checks.ok(pt == want, "GCM ciphertext from the parent process opens")
        oct_, owant = parent_oaep
        checks.ok(bytes(s.decrypt(keys.rsa_priv, oct_, oaep_mech())) == owant,
                  "OAEP ciphertext from the parent process opens")
        results = []
        for it in range(ITERATIONS):
            results += all_ops(s, keys, 50 + 31 * it + idx)
        summarize(checks, results, "every round-trip and tamper check")
        # Ciphertexts for the parent.
        msg = ("from process %d" % idx).encode()
        _, (giv, gct) = gcm_roundtrip(s, keys, msg)
        _, (civ, cct, cmac) = cbc_roundtrip(s, keys, msg, True)
        _, oct2 = oaep_roundtrip(s, keys, msg)
        out.update(gcm=(giv, gct, msg), cbc=(civ, cct, cmac, msg), oaep=(oct2, msg))
        s.logout()
        s.closeSession()
        lib.lib.C_Finalize()
    except Exception:  # noqa: BLE001 - reported to the parent
        out["error"] = traceback.format_exc()
    return checks.passed, checks.failed, checks.lines, out


def processes(checks, lib, slot, keys, session):
    msg = b"sealed by the parent"
    _, (iv, ct) = gcm_roundtrip(session, keys, msg)
    _, oct_ = oaep_roundtrip(session, keys, msg)
    ctx = multiprocessing.get_context("spawn")
    jobs = [(os.environ["QT_VAULT_MODULE"], i, (iv, ct, msg), (oct_, msg))
            for i in range(N_PROCS)]
    with ctx.Pool(N_PROCS) as pool:
        outs = pool.map(child_main, jobs)
    for i, (passed, failed, _lines, out) in enumerate(outs):
        checks.merge(passed, failed)
        if not checks.ok(out["error"] is None, "process %d finished" % i, out["error"] or ""):
            continue
        giv, gct, gmsg = out["gcm"]
        pt = bytes(session.decrypt(keys.aes, gct,
                                   PyKCS11.AES_GCM_Mechanism(giv, b"", GCM_TAG_BITS)))
        checks.ok(pt == gmsg, "GCM ciphertext from process %d opens in the parent" % i)
        civ, cct, cmac, cmsg = out["cbc"]
        checks.ok(cbc_hmac_open(session, keys, civ, cct, cmac, True) == cmsg,
                  "CBC_PAD+HMAC ciphertext from process %d opens in the parent" % i)
        o, omsg = out["oaep"]
        checks.ok(bytes(session.decrypt(keys.rsa_priv, o, oaep_mech())) == omsg,
                  "OAEP ciphertext from process %d opens in the parent" % i)


def main():
    module = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("QTOKEN_PKCS11_MODULE")
    if not module or not os.path.exists(module):
        print("usage: %s /path/to/module.so" % sys.argv[0], file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    module = os.path.realpath(module)
    os.environ["QT_VAULT_MODULE"] = module
    checks = Checks()
    tmp = tempfile.mkdtemp(prefix="qt-vault.")
    try:
        make_env(tmp)
        if init_token(module, checks):
            raw, lib = load(module, checks)
            slot = find_slot(lib)
            if checks.ok(slot is not None, "token '%s' found by label" % TOKEN_LABEL):
                per_operation_sessions(checks, lib, slot)
                pooled_sessions(checks, lib, raw, slot)
            lib.lib.C_Finalize()
    except Exception:  # noqa: BLE001 - any escape is a failure, with its trace
        checks.ok(False, "replay ran to the end", traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
