/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation: the device attestation key, the signed hash-chained records
 * (compact JWS, RFC 7515) that make up each token's log, their verifier, and
 * per-key X.509 attestation certificates.  The record format is specified in
 * attest/FORMAT.md.
 *
 * This library knows neither the keystore nor PKCS#11: pkcs11/ describes each
 * event in the plain structs below, builds the record with
 * qt_att_record_build() and stores it with qt_ks_log_append() in the same
 * keystore transaction as the event.  All functions return qt_rc; strings
 * returned through char ** are malloc'ed and owned by the caller (free()).
 * Nothing here takes a lock: a struct qt_att_key may be shared between
 * threads for signing (OpenSSL EVP_PKEY is reference counted and read-only
 * once created), everything else is per call.
 */
#ifndef QT_ATTEST_ATT_H
#define QT_ATTEST_ATT_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../src/common/conf.h"
#include "../src/common/err.h"

#define QT_ATT_FORMAT_VERSION 1
#define QT_ATT_HASH_HEX 65 /* 64 lowercase hex digits + NUL */

/* File names inside the installation directory (qt_conf_install_dir). */
#define QT_ATT_KEY_FILE "attest-key.pem"   /* PKCS#8 private key, mode 0600 */
#define QT_ATT_CERT_FILE "attest-cert.pem" /* optional, imported (organisation CA) */
#define QT_ATT_CA_FILE "attest-ca.pem"     /* self-signed CA cert for the key */

/* ---------------------------------------------------------------------------
 * The attestation key (att_key.c)
 */

enum qt_att_key_type {
    QT_ATT_KEY_P256 = 0,    /* ES256 */
    QT_ATT_KEY_ED25519 = 1, /* EdDSA (RFC 8037) */
};

struct qt_att_key;

/* Opens the installation's attestation key from dir/attest-key.pem.  If it
 * does not exist and create is non-zero, generates one of type `type` with
 * EVP_PKEY_keygen in libctx (whose RNG must be the QRNG DRBG; NULL = the
 * default context, for tests), writes it with mode 0600 (atomically: two
 * processes racing at first use end up with the same key) and opens it.
 * An existing key is used whatever `type` says.  libctx is borrowed and must
 * outlive the key; it is also used for signing (ECDSA nonces).
 * QT_E_NOTFOUND when missing and !create; QT_E_FORMAT when unreadable. */
qt_rc qt_att_key_open(const char *dir, OSSL_LIB_CTX *libctx, enum qt_att_key_type type, int create,
                      struct qt_att_key **out) QT_MUST_CHECK;

/* Same, with dir = qt_conf_install_dir(conf) and type from conf [attest] key_type
 * ("p256" default, "ed25519"); QT_E_CONFIG for another key_type. */
qt_rc qt_att_key_open_conf(const struct qt_conf *conf, OSSL_LIB_CTX *libctx, int create,
                           struct qt_att_key **out) QT_MUST_CHECK;

/* Parses conf [attest] key_type. */
qt_rc qt_att_key_type_parse(const char *s, enum qt_att_key_type *out) QT_MUST_CHECK;

/* NULL-safe. */
void qt_att_key_free(struct qt_att_key *k);

/* Borrowed views of the key: valid while k lives. */
EVP_PKEY *qt_att_key_pkey(const struct qt_att_key *k);
const char *qt_att_key_alg(const struct qt_att_key *k);         /* "ES256" or "EdDSA" */
const char *qt_att_key_fingerprint(const struct qt_att_key *k); /* SPKI SHA-256, hex */
const char *qt_att_key_dir(const struct qt_att_key *k);
OSSL_LIB_CTX *qt_att_key_libctx(const struct qt_att_key *k);

/* PEM of the public key (SubjectPublicKeyInfo), malloc'ed. */
qt_rc qt_att_key_public_pem(const struct qt_att_key *k, char **pem) QT_MUST_CHECK;

/* Imports a certificate for the attestation key (issued by an organisation's
 * CA): it must certify this key's public key and be a CA certificate
 * (basicConstraints CA:TRUE) so that per-key certificates chain to it.
 * Stored as dir/attest-cert.pem.  QT_E_ARG if the key does not match. */
qt_rc qt_att_key_import_cert(const struct qt_att_key *k, const char *pem_path) QT_MUST_CHECK;

/* The issuer certificate used for per-key certificates, as PEM (malloc'ed):
 * the imported attest-cert.pem if present, else the self-signed
 * attest-ca.pem (created on first call, signed by the key, 20 years).
 * *imported is set to 1 for the imported certificate. */
qt_rc qt_att_key_issuer_cert(const struct qt_att_key *k, X509 **cert, int *imported) QT_MUST_CHECK;

/* SHA-256 of the DER SubjectPublicKeyInfo of any public key, lowercase hex. */
qt_rc qt_att_spki_sha256(EVP_PKEY *pkey, char hex[QT_ATT_HASH_HEX]) QT_MUST_CHECK;

/* Reads a PEM public key or the public key of a PEM certificate from a file. */
qt_rc qt_att_read_pubkey(const char *path, EVP_PKEY **out) QT_MUST_CHECK;

/* ---------------------------------------------------------------------------
 * Records (att_record.c, att_jws.c)
 */

enum qt_att_event_type {
    QT_ATT_EV_TOKEN_INIT = 0,   /* "token-init" */
    QT_ATT_EV_KEY_GENERATE,     /* "key-generate": C_GenerateKey */
    QT_ATT_EV_KEYPAIR_GENERATE, /* "keypair-generate": C_GenerateKeyPair */
    QT_ATT_EV_KEY_IMPORT,       /* "key-import": C_CreateObject/C_UnwrapKey of a key */
    QT_ATT_EV_KEY_DESTROY,      /* "key-destroy" */
    QT_ATT_EV_PIN_INIT,         /* "pin-init": C_InitPIN */
    QT_ATT_EV_PIN_CHANGE,       /* "pin-change": C_SetPIN */
    QT_ATT_EV_PIN_LOCKED,       /* "pin-locked": failure counter reached the limit */
    QT_ATT_EV_REKEY,            /* "rekey": master-key rotation */
    QT_ATT_EV_HEALTH_FAILURE,   /* "health-failure": entropy test or estimator failed */
    QT_ATT_EV_HEALTH_RECOVERY,  /* "health-recovery": a fresh start-up test passed */
    QT_ATT_EV_CEREMONY,         /* "ceremony": a ceremony step (note says which) */
    QT_ATT_EV_LOGIN_FAILURE,    /* "login-failure": a wrong PIN was counted */
    QT_ATT_EV_OBJECT_TAMPER,    /* "object-tamper": a stored object failed its MAC/seal */
    QT_ATT_EV_SESSION_KEYS,     /* "session-keys": a batch of session-object key generations */
    QT_ATT_EV__COUNT
};

/* "token-init", ...; NULL for an out-of-range value. */
const char *qt_att_event_name(enum qt_att_event_type e);
/* Reverse of qt_att_event_name; QT_E_FORMAT for an unknown name. */
qt_rc qt_att_event_parse(const char *name, enum qt_att_event_type *out) QT_MUST_CHECK;

/* Tri-state attribute: absent (not applicable / unknown), false, true. */
enum qt_att_bool {
    QT_ATT_UNSET = 0,
    QT_ATT_FALSE = 1,
    QT_ATT_TRUE = 2,
};

/* The key an event is about.  All pointers are borrowed for the call. */
struct qt_att_key_desc {
    const char *mechanism; /* generation mechanism name, e.g. "CKM_EC_KEY_PAIR_GEN"; NULL */
    const char *type;      /* "EC", "RSA", "EC_EDWARDS", "AES", "GENERIC_SECRET", ... */
    unsigned bits;         /* RSA modulus / secret key bits; 0 = absent */
    const char *curve;     /* "P-256", "P-384", "P-521", "Ed25519"; NULL = absent */
    const uint8_t *id;     /* CKA_ID bytes (hex in the record) */
    size_t id_len;
    const char *label;       /* CKA_LABEL; NULL = absent */
    int is_pair;             /* 1: a key pair or one of its halves ("kind": "pair"), */
                             /* 0: a secret key ("kind": "secret") */
    int is_public;           /* 1: readable without login, CKA_PRIVATE false ("public": true) */
    uint8_t spki_sha256[32]; /* SHA-256 of the public key's SubjectPublicKeyInfo DER */
    int has_spki;
    uint8_t kcv[16]; /* key check value of a secret key */
    size_t kcv_len;  /* 0 = absent */
    /* Policy attributes (CKA_SENSITIVE, ...) of the private/secret key. */
    enum qt_att_bool sensitive, extractable, never_extractable, always_sensitive, local, private_,
        modifiable, copyable, destroyable, sign, decrypt, unwrap, derive;
};

/* The entropy evidence at the moment of the event (from qt_ent_stats and the
 * DRBG).  Strings borrowed for the call. */
struct qt_att_entropy {
    const char *device_type; /* "sim", "chardev", "file" */
    const char *device_serial;
    int simulated;     /* 1 for the sim device: never quantum */
    double h_declared; /* bits per raw sample */
    double h_estimate; /* current online estimate, bits per sample */
    uint64_t raw_samples;
    uint64_t startup_runs;
    uint64_t failures_rct, failures_apt, failures_block_repeat, failures_estimate, failures_read;
    uint64_t failures_drift;
    int state;                 /* 0 ok, 1 error */
    uint64_t bits_drawn;       /* QRNG bits the key generation's reseed drew */
    uint64_t reseeds;          /* DRBG reseed counter */
    int prediction_resistance; /* 1 if a QRNG reseed preceded this key's generation */
};

/* One key of a session-keys record: the key as its own key-generate or
 * keypair-generate record would describe it, and the evidence that is its
 * own (the rest of the entropy evidence is the record's, at writing time). */
struct qt_att_batch_key {
    enum qt_att_event_type type; /* QT_ATT_EV_KEY_GENERATE or QT_ATT_EV_KEYPAIR_GENERATE */
    int64_t time;                /* Unix seconds of the generation; 0 = now */
    uint64_t bits_drawn;         /* QRNG bits its prediction-resistance reseed drew */
    int prediction_resistance;   /* 1 if a QRNG reseed preceded its generation */
    struct qt_att_key_desc key;  /* pointers borrowed for the call */
};

struct qt_att_event {
    enum qt_att_event_type type;
    int64_t time;                         /* Unix seconds, UTC; 0 = now */
    const char *token_serial;             /* required */
    const char *token_label;              /* required */
    const struct qt_att_key_desc *key;    /* key events; NULL otherwise */
    const struct qt_att_entropy *entropy; /* NULL if not available (omitted) */
    const char *user;                     /* PIN events: "user" or "so"; NULL otherwise */
    const char *test;                     /* health events: "rct", "apt", ...; NULL otherwise */
    const char *note;                     /* free text (detail, ceremony step); NULL */
    unsigned pin_failures;                /* login-failure, pin-locked: the counter; 0 = absent */
    unsigned pin_limit;                   /* ... and the failed-login limit; 0 = absent */
    uint64_t object_id;                   /* object-tamper: keystore object id; 0 = absent */
    const struct qt_att_batch_key *keys;  /* session-keys: the keys (nkeys >= 1); else NULL */
    size_t nkeys;
};

/* Builds and signs one record: the JSON payload of FORMAT.md for ev with
 * sequence number seq (>= 1) and prev = SHA-256 of prev_jws (NULL: the first
 * record, prev = 64 zeros; then seq must be 1), as a compact JWS signed by
 * k.  *jws is malloc'ed (free()).  No secret enters a record. */
qt_rc qt_att_record_build(const struct qt_att_key *k, const char *prev_jws, uint64_t seq,
                          const struct qt_att_event *ev, char **jws) QT_MUST_CHECK;

/* SHA-256 of a record's compact JWS text, lowercase hex (the next `prev`). */
qt_rc qt_att_record_hash(const char *jws, char hex[QT_ATT_HASH_HEX]) QT_MUST_CHECK;

/* Compact JWS sign/verify (att_jws.c).  sign: header {"alg","kid","typ"}
 * over payload bytes (len > 0, else QT_E_ARG); *out malloc'ed.  verify: checks the header's alg
 * matches the key and the signature; on success *payload (malloc'ed,
 * NUL-terminated, length *len) is the decoded payload.  QT_E_FORMAT for a
 * malformed JWS, QT_E_SIGNATURE for a bad signature. */
qt_rc qt_att_jws_sign(const struct qt_att_key *k, const char *payload, size_t len,
                      char **out) QT_MUST_CHECK;
qt_rc qt_att_jws_verify(EVP_PKEY *pub, const char *jws, char **payload, size_t *len) QT_MUST_CHECK;
/* Decodes the payload without verifying (for display). */
qt_rc qt_att_jws_payload(const char *jws, char **payload, size_t *len) QT_MUST_CHECK;

/* base64url without padding (RFC 7515 section 2). out malloc'ed. */
qt_rc qt_att_b64url_encode(const uint8_t *p, size_t n, char **out) QT_MUST_CHECK;
qt_rc qt_att_b64url_decode(const char *s, size_t n, uint8_t **out, size_t *outlen) QT_MUST_CHECK;

/* ---------------------------------------------------------------------------
 * Logs (att_log.c) and their verification (att_verify.c)
 *
 * The exported form of a token's log is JSON lines, one object per record:
 *   {"seq":N,"jws":"<compact JWS>"}
 */

struct qt_att_rec {
    uint64_t seq; /* the line's "seq" */
    size_t line;  /* 1-based line number in the file */
    char *jws;
};

struct qt_att_log {
    struct qt_att_rec *recs;
    size_t n, cap;
};

void qt_att_log_init(struct qt_att_log *log);
void qt_att_log_clear(struct qt_att_log *log); /* frees records; NULL-safe */
/* Appends a copy of jws with seq. */
qt_rc qt_att_log_add(struct qt_att_log *log, uint64_t seq, const char *jws) QT_MUST_CHECK;
/* Parses JSON lines (blank lines skipped).  QT_E_FORMAT with a reason naming
 * the line in err. */
qt_rc qt_att_log_parse(const char *text, size_t len, struct qt_att_log *log, char *err,
                       size_t errlen) QT_MUST_CHECK;
qt_rc qt_att_log_read_file(const char *path, struct qt_att_log *log, char *err,
                           size_t errlen) QT_MUST_CHECK;
/* Serialises the log as JSON lines (*out malloc'ed). */
qt_rc qt_att_log_format(const struct qt_att_log *log, char **out, size_t *len) QT_MUST_CHECK;

/* Verification result. */
struct qt_att_verify_result {
    size_t records;        /* records checked */
    size_t bad_index;      /* index of the failing record (when rc != QT_OK) */
    uint64_t bad_seq;      /* its seq as written (line's seq) */
    char reason[256];      /* "record seq 3 (line 3): signature does not verify ..." */
    char token_serial[64]; /* from the first record */
    char token_label[64];
    char last_hash[QT_ATT_HASH_HEX]; /* hash of the last record (the chain head) */
};

/* Verifies every record of log with pub: each signature, the payload format,
 * seq gapless from 1 in file order and equal to the line's seq, prev =
 * hash of the previous record (64 zeros for the first), the first record a
 * token-init, one token serial throughout.  Stops at the first failure:
 * QT_E_SIGNATURE (bad signature), QT_E_TAMPER (chain broken: gap, fork,
 * reorder, splice) or QT_E_FORMAT (malformed), res->reason naming the record.
 * An empty log is QT_E_FORMAT. */
qt_rc qt_att_log_verify(const struct qt_att_log *log, EVP_PKEY *pub,
                        struct qt_att_verify_result *res) QT_MUST_CHECK;

/* Finds the key-generation record (keypair-generate, or key-import with the
 * same fingerprint) whose key.spki_sha256 equals spki_hex (the log must have
 * verified first).  *index gets the record's index; *payload (optional) its
 * decoded payload (malloc'ed).  QT_E_NOTFOUND if none.  Records of one key
 * only: a session key inside a session-keys record is not found here. */
qt_rc qt_att_log_find_key(const struct qt_att_log *log, const char *spki_hex, size_t *index,
                          char **payload) QT_MUST_CHECK;

#define QT_ATT_NO_ENTRY ((size_t)-1)
/* The same, also looking inside the "keys" of session-keys records: the first
 * record (in log order) that holds the key.  *entry (optional) gets the
 * key's index in that record's "keys" array, or QT_ATT_NO_ENTRY for a record
 * about one key. */
qt_rc qt_att_log_find_key_entry(const struct qt_att_log *log, const char *spki_hex, size_t *index,
                                size_t *entry, char **payload) QT_MUST_CHECK;

/* One line saying where a record's entropy came from, e.g. "entropy: sim
 * SIM-a56d4181f0f63b93 (SIMULATED, not quantum)" or "entropy: chardev
 * CHR-... H 7.9000"; "" when the record has no entropy evidence. */
void qt_att_payload_entropy_summary(const char *payload, char *out, size_t outlen);

/* Writes a readable rendering of one record's payload (JSON text) to f; the
 * keys of a session-keys record one by one, numbered from 0. */
void qt_att_payload_print(const char *payload, FILE *f);

/* ---------------------------------------------------------------------------
 * Per-key attestation certificates (att_cert.c)
 */

/* OID of the extension carrying the SHA-256 of the key's generation record
 * (an OCTET STRING holding 32 bytes), non-critical.  A UUID-derived OID
 * (ITU-T X.667, arc 2.25: no registration needed) from UUID
 * fa0d8e7c-4258-4114-83fe-da9d80b269c4, with .1 for this extension. */
#define QT_ATT_OID_RECORD_HASH "2.25.332377388752378494743703133368895039940.1"

/* Issues an X.509 v3 certificate for pub: subject CN=<label> (or the
 * fingerprint when label is NULL/empty), serialNumber=<token serial>,
 * O=qtoken attested key, OU=<entropy_ou> (if not NULL: where the key's
 * randomness came from, qt_att_payload_entropy_summary); issuer = qt_att_key_issuer_cert();
 * validity `days` (1..36500) from now; random 128-bit serial from k's libctx; basicConstraints
 * CA:FALSE; the record-hash extension with the 32 bytes of rec_hash_hex; signed by the attestation
 * key.  *out owned by caller. */
qt_rc qt_att_cert_issue(const struct qt_att_key *k, EVP_PKEY *pub, const char *label,
                        const char *token_serial, const char *entropy_ou, const char *rec_hash_hex,
                        int days, X509 **out) QT_MUST_CHECK;

/* Reads the record-hash extension of cert into hex (QT_E_NOTFOUND if absent). */
qt_rc qt_att_cert_record_hash(X509 *cert, char hex[QT_ATT_HASH_HEX]) QT_MUST_CHECK;

/* X509 to PEM text (malloc'ed). */
qt_rc qt_att_cert_pem(X509 *cert, char **pem) QT_MUST_CHECK;

/* Adds an X.509 v3 extension given in OpenSSL's configuration syntax
 * (e.g. NID_basic_constraints, "critical,CA:FALSE"); issuer serves
 * authorityKeyIdentifier (cert itself when self-signed). */
qt_rc qt_att_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) QT_MUST_CHECK;

#endif
