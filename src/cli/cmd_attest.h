/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of 'qtoken attest' that 'qtoken ceremony' shares: opening the
 * installation's attestation key (with a QRNG library context when the key
 * must be created or used to sign), reading a token's log from the
 * keystore, and writing files.
 */
#ifndef QT_CLI_CMD_ATTEST_H
#define QT_CLI_CMD_ATTEST_H

#include <openssl/types.h>
#include "../../attest/att.h"
#include "../../keystore/ks.h"
#include "../common/conf.h"

struct qt_ent_pipeline;
struct qt_drbg;

/* The QRNG library context for the attestation key (keygen, ECDSA nonces,
 * certificate serials). */
struct qt_attest_qrng {
    struct qt_ent_pipeline *pipe;
    struct qt_drbg *drbg;
};

/* Opens (create: or creates) the attestation key of conf's installation.
 * with_qrng: the key is bound to a fresh QRNG libctx kept in *q (close with
 * qt_attest_qrng_close after freeing the key); else to the default libctx
 * (verification only, q unused). */
qt_rc qt_attest_key_open(const struct qt_conf *c, int create, int with_qrng,
                         struct qt_attest_qrng *q, struct qt_att_key **out) QT_MUST_CHECK;
void qt_attest_qrng_close(struct qt_attest_qrng *q);

/* Reads the log of the token labelled label from the keystore into log
 * (QT_E_NOTFOUND: no such token).  Token serial into serial if non-NULL. */
qt_rc qt_attest_read_token_log(const struct qt_conf *c, const char *label, struct qt_att_log *log,
                               char serial[17]) QT_MUST_CHECK;

/* The entropy evidence of pipeline p (NULL: "unavailable") and DRBG d (may
 * be NULL) for a record; dev is storage the strings of *en point into. */
struct qt_dev_info;
void qt_attest_evidence(struct qt_ent_pipeline *p, struct qt_drbg *d, struct qt_dev_info *dev,
                        struct qt_att_entropy *en);

/* Appends one record for ev to the log of the open token t, signed by k,
 * in one keystore transaction (nested in the caller's, if any: then the
 * record commits with the caller's change).  ev's token serial and label are
 * filled from the token.  *seq_out (optional) gets the record's seq.  For
 * CLI commands that change a token without the module, e.g. 'qtoken token
 * init' (token-init, then pin-init). */
qt_rc qt_attest_token_event(struct qt_ks_token *t, const struct qt_att_key *k,
                            struct qt_att_event *ev, uint64_t *seq_out) QT_MUST_CHECK;

/* Appends one record for ev to the log of the token labelled label, signed
 * by k, in one keystore transaction (ev's token serial and label are filled
 * from the token).  *seq_out (optional) gets the record's seq. */
qt_rc qt_attest_append(const struct qt_conf *c, const char *label, const struct qt_att_key *k,
                       struct qt_att_event *ev, uint64_t *seq_out) QT_MUST_CHECK;

/* The public key of a public-key object's attributes: CKA_PUBLIC_KEY_INFO if
 * present, else CKA_EC_PARAMS + CKA_EC_POINT (EC, Edwards) or CKA_MODULUS +
 * CKA_PUBLIC_EXPONENT (RSA).  QT_E_FORMAT / QT_E_UNSUPPORTED otherwise. */
qt_rc qt_attest_pubkey_from_attrs(const struct qt_attr *a, size_t n, EVP_PKEY **out) QT_MUST_CHECK;

/* Writes text to path (mode 0644, or 0600 if private_) replacing it. */
qt_rc qt_attest_write_file(const char *path, const char *text, int private_) QT_MUST_CHECK;

#endif
