/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token events for the attestation log: token initialisation, key
 * generation and destruction, PIN initialisation and changes, login
 * failures, entropy health failures.  qt_event_record is called by the
 * PKCS#11 layer inside the keystore transaction that makes the change (so
 * the record and the change commit together or not at all) with the slot,
 * the event, the mechanism (CK_UNAVAILABLE_INFORMATION if none) and the
 * attributes of the object concerned (NULL if none; never read for secret
 * values).
 *
 * PENDING ATTESTATION: attest/ (issue 5) will build and sign the JWS record
 * here (entropy evidence from the pipeline, key fingerprint, sequence and
 * previous hash from qt_ks_log_tail) and append it with qt_ks_log_append.
 * Until that hook lands this function records nothing and returns QT_OK; a
 * failure it returns will abort the enclosing change (fail closed).
 */
#include "p11.h"

qt_rc
qt_event_record(struct qt_slot *s, enum qt_event ev, CK_MECHANISM_TYPE mech,
                const struct qt_attrs *obj)
{
    (void)s;
    (void)ev;
    (void)mech;
    (void)obj;
    return QT_OK;
}
