/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal helpers shared by the files of attest/ (not for other rooms).
 */
#ifndef QT_ATTEST_ATT_INT_H
#define QT_ATTEST_ATT_INT_H

#include <openssl/x509.h>
#include "att.h"

/* Sets a random positive 128-bit serial number drawn from k's library context. */
qt_rc qt_att_cert_serial(const struct qt_att_key *k, X509 *cert) QT_MUST_CHECK;

/* Signs cert with the attestation key (SHA-256 for ECDSA, none for Ed25519). */
qt_rc qt_att_cert_sign(const struct qt_att_key *k, X509 *cert) QT_MUST_CHECK;

#endif
