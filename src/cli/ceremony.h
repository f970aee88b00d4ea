/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the two files of 'qtoken ceremony': cmd_ceremony.c (the command,
 * device check, attestation, bundle, transcript, offline verify) and
 * ceremony_p11.c (everything done through the module's PKCS#11 function
 * list).  Each qt_ceremony_p11_* step records its result with
 * qt_ceremony_step and returns a qtoken exit code (cli.h).
 */
#ifndef QT_CLI_CEREMONY_H
#define QT_CLI_CEREMONY_H

#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>

#include "../../attest/att.h"
#include "../../device/dev.h"
#include "../entropy/ent.h"
#include "cmd_attest.h"

#define QT_CEREMONY_MODULE_NAME "libqtoken-pkcs11.so"

#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif

/* A supported --key-type. */
struct qt_ceremony_key_type {
    const char *name;
    CK_KEY_TYPE ckk;
    CK_MECHANISM_TYPE gen;
    const char *gen_name;
    CK_MECHANISM_TYPE sign;
    int curve_nid;  /* EC / Edwards */
    CK_ULONG bits;  /* RSA */
    const char *md; /* digest for the certificate signature; NULL: EdDSA */
    int sig_nid;    /* certificate signatureAlgorithm */
};

struct qt_ceremony {
    /* options */
    const char *token, *subject, *out, *pin_file, *module, *label;
    const struct qt_ceremony_key_type *kt;
    long days;
    int allow_sim;
    /* installation */
    struct qt_conf conf;
    struct qt_attest_qrng q;
    struct qt_att_key *att;
    struct qt_dev_info dev;
    struct qt_ent_stats stats;
    /* module */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int initialized, logged_in;
    CK_SESSION_HANDLE s;
    CK_SLOT_ID slot;
    char token_serial[17];
    CK_OBJECT_HANDLE pub, priv, cert_obj;
    uint8_t id[16];
    char id_hex[33];
    /* results */
    EVP_PKEY *pubkey;
    X509 *root;
    char spki[QT_ATT_HASH_HEX];
    char cert_fp[QT_ATT_HASH_HEX];
    X509 *acert, *ca; /* the key's attestation certificate, its issuer */
    uint64_t rec_seq; /* the key's generation record */
    char rec_hash[QT_ATT_HASH_HEX];
    char failed[640]; /* the first failed step, for the abort record */
    /* transcript */
    FILE *tr;
    char *tr_text;
    size_t tr_len;
    int step;
};

/* Transcript: a free line, and one step's result (also on stderr). */
void qt_ceremony_note(struct qt_ceremony *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qt_ceremony_step(struct qt_ceremony *c, int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ceremony_p11.c */
const struct qt_ceremony_key_type *qt_ceremony_p11_key_type(const char *name); /* NULL: unknown */
int qt_ceremony_p11_file_exists(const char *path);
/* "/CN=a/O=b" or "CN=a,O=b" -> *out (caller frees).  QT_E_CONFIG when malformed. */
qt_rc qt_ceremony_p11_parse_dn(const char *s, X509_NAME **out) QT_MUST_CHECK;
int qt_ceremony_p11_load(struct qt_ceremony *c);              /* dlopen + C_Initialize */
void qt_ceremony_p11_unload(struct qt_ceremony *c);           /* logout, close, C_Finalize */
int qt_ceremony_p11_find_token(struct qt_ceremony *c);        /* slot of --token (4 if none) */
int qt_ceremony_p11_login(struct qt_ceremony *c);             /* RW session, C_Login (PIN) */
int qt_ceremony_p11_generate(struct qt_ceremony *c);          /* label check, CKA_ID, key pair */
int qt_ceremony_p11_read_public(struct qt_ceremony *c);       /* public key, private policy */
int qt_ceremony_p11_certificate(struct qt_ceremony *c);       /* TBS + C_Sign -> c->root */
int qt_ceremony_p11_store_certificate(struct qt_ceremony *c); /* CKO_CERTIFICATE */
void qt_ceremony_p11_destroy_partial(struct qt_ceremony *c);  /* what a failure left */

#endif
