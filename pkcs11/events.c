/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token events for the attestation log: token initialisation, key
 * generation, import and destruction, PIN initialisation and changes, login
 * failures and PIN locks (qt_event_login_failure, the keystore's login hook,
 * run in the transaction that re-verifies the failure counter), objects
 * found tampered on disk (a keystore hook run once the read that refused
 * the object has ended; one record per object per process).
 * qt_event_record is called by the PKCS#11 layer inside the
 * keystore transaction that makes the change (so the record and the change
 * commit together or not at all) with the slot, the event, the mechanism
 * (CK_UNAVAILABLE_INFORMATION if none) and the attributes of the object
 * concerned (NULL if none; secret values are never read).  It describes the
 * event in attest/'s plain structs (no PKCS#11 type crosses into attest/),
 * opens the installation's attestation key, chains the record to the
 * token's log tail and appends it (attest/INTEGRATION.md, whose reference
 * implementation this is).  Any error aborts the enclosing change: fail
 * closed.
 */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "../attest/att.h"
#include "../device/dev.h"
#include "../src/common/log.h"
#include "../src/drbg/drbg.h"
#include "../src/entropy/ent.h"
#include "p11.h"

static const struct {
    CK_MECHANISM_TYPE m;
    const char *name;
} mech_names[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
    {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
    {CKM_EC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN"},
    {CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"},
    {CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN"},
};

static const char *
mech_name(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++) {
        if (mech_names[i].m == m) {
            return mech_names[i].name;
        }
    }
    return NULL;
}

static const char *
key_type_name(CK_ULONG kt)
{
    switch (kt) {
    case CKK_RSA:
        return "RSA";
    case CKK_EC:
        return "EC";
    case CKK_EC_EDWARDS:
        return "EC_EDWARDS";
    case CKK_AES:
        return "AES";
    case CKK_GENERIC_SECRET:
        return "GENERIC_SECRET";
    default:
        return NULL;
    }
}

static enum qt_att_bool
tri(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE t)
{
    const struct qt_attr *x = qt_attrs_find(a, t);

    if (x == NULL || x->len != sizeof(CK_BBOOL)) {
        return QT_ATT_UNSET;
    }
    return x->val[0] ? QT_ATT_TRUE : QT_ATT_FALSE;
}

/* "P-256", ... from DER CKA_EC_PARAMS (a named-curve OID, as the module
 * always writes it). */
static const char *
curve_name(const struct qt_attrs *a)
{
    const struct qt_attr *p = qt_attrs_find(a, CKA_EC_PARAMS);
    const unsigned char *d;
    ASN1_OBJECT *o;
    int nid;

    if (p == NULL) {
        return NULL;
    }
    d = p->val;
    o = d2i_ASN1_OBJECT(NULL, &d, (long)p->len);
    nid = o != NULL ? OBJ_obj2nid(o) : NID_undef;
    ASN1_OBJECT_free(o);
    switch (nid) {
    case NID_X9_62_prime256v1:
        return "P-256";
    case NID_secp384r1:
        return "P-384";
    case NID_secp521r1:
        return "P-521";
    case NID_secp256k1:
        return "secp256k1";
    case NID_ED25519:
        return "Ed25519";
    case NID_ED448:
        return "Ed448";
    default:
        return NULL;
    }
}

static void
describe_key(const struct qt_attrs *a, CK_MECHANISM_TYPE mech, struct qt_att_key_desc *kd,
             char *label, size_t labcap)
{
    const struct qt_attr *x;
    CK_ULONG kt = qt_attrs_key_type(a), cls = qt_attrs_class(a), ul = 0;

    memset(kd, 0, sizeof(*kd));
    kd->mechanism = mech != CK_UNAVAILABLE_INFORMATION ? mech_name(mech) : NULL;
    kd->type = key_type_name(kt);
    kd->curve = (kt == CKK_EC || kt == CKK_EC_EDWARDS) ? curve_name(a) : NULL;
    if (qt_attrs_ulong(a, CKA_MODULUS_BITS, &ul) && ul > 0) {
        kd->bits = (unsigned)ul;
    } else if ((x = qt_attrs_find(a, CKA_MODULUS)) != NULL) {
        kd->bits = (unsigned)(x->len * 8);
    } else if (qt_attrs_ulong(a, CKA_VALUE_LEN, &ul) && ul > 0) {
        kd->bits = (unsigned)(ul * 8);
    }
    if ((x = qt_attrs_find(a, CKA_ID)) != NULL) {
        kd->id = x->val;
        kd->id_len = x->len;
    }
    if ((x = qt_attrs_find(a, CKA_LABEL)) != NULL && labcap > 0) {
        size_t n = x->len < labcap - 1 ? x->len : labcap - 1;
        memcpy(label, x->val, n);
        label[n] = '\0';
        kd->label = label;
    }
    kd->is_pair = cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY;
    /* Readable without login: CKA_PRIVATE false, or absent on an object
     * the keystore then stores as public (not a private or secret key). */
    kd->private_ = tri(a, CKA_PRIVATE);
    kd->is_public = kd->private_ == QT_ATT_FALSE ||
                    (kd->private_ == QT_ATT_UNSET && cls != CKO_PRIVATE_KEY &&
                     cls != CKO_SECRET_KEY);
    if ((x = qt_attrs_find(a, CKA_PUBLIC_KEY_INFO)) != NULL && x->len > 0 &&
        EVP_Digest(x->val, x->len, kd->spki_sha256, NULL, EVP_sha256(), NULL) == 1) {
        kd->has_spki = 1;
    }
    if (!kd->is_pair && (x = qt_attrs_find(a, CKA_CHECK_VALUE)) != NULL && x->len > 0 &&
        x->len <= sizeof(kd->kcv)) {
        memcpy(kd->kcv, x->val, x->len);
        kd->kcv_len = x->len;
    }
    kd->sensitive = tri(a, CKA_SENSITIVE);
    kd->extractable = tri(a, CKA_EXTRACTABLE);
    kd->never_extractable = tri(a, CKA_NEVER_EXTRACTABLE);
    kd->always_sensitive = tri(a, CKA_ALWAYS_SENSITIVE);
    kd->local = tri(a, CKA_LOCAL);
    kd->modifiable = tri(a, CKA_MODIFIABLE);
    kd->copyable = tri(a, CKA_COPYABLE);
    kd->destroyable = tri(a, CKA_DESTROYABLE);
    kd->sign = tri(a, CKA_SIGN);
    kd->decrypt = tri(a, CKA_DECRYPT);
    kd->unwrap = tri(a, CKA_UNWRAP);
    kd->derive = tri(a, CKA_DERIVE);
}

static void
evidence(struct qt_att_entropy *en, struct qt_dev_info *di, int keygen)
{
    struct qt_ent_stats st;

    memset(en, 0, sizeof(*en));
    memset(di, 0, sizeof(*di));
    if (qt_mod->pipe == NULL) {
        en->device_type = "unavailable";
        en->state = 1;
        return;
    }
    qt_ent_pipeline_stats(qt_mod->pipe, &st);
    qt_ent_pipeline_dev_info(qt_mod->pipe, di);
    en->device_type = di->type;
    en->device_serial = di->serial;
    en->simulated = di->simulated;
    en->h_declared = st.h_declared;
    en->h_estimate = st.h_estimate;
    en->raw_samples = st.raw_samples;
    en->startup_runs = st.startup_runs;
    en->failures_rct = st.failures_rct;
    en->failures_apt = st.failures_apt;
    en->failures_block_repeat = st.failures_block_repeat;
    en->failures_estimate = st.failures_estimate;
    en->failures_read = st.failures_read;
    en->failures_drift = st.failures_drift;
    en->state = st.state;
    en->reseeds = qt_mod->drbg != NULL ? qt_drbg_reseed_count(qt_mod->drbg) : st.reseeds;
    /* Key generation runs with prediction resistance (a QRNG reseed first). */
    en->prediction_resistance = keygen;
    en->bits_drawn = keygen ? qt_keygen_bits_drawn() : 0;
}

static enum qt_att_event_type
att_type(enum qt_event ev, CK_MECHANISM_TYPE mech, const struct qt_attrs *obj)
{
    switch (ev) {
    case QT_EVENT_TOKEN_INIT:
        return QT_ATT_EV_TOKEN_INIT;
    case QT_EVENT_KEY_GENERATE:
        return (obj != NULL && (qt_attrs_class(obj) == CKO_PRIVATE_KEY ||
                                qt_attrs_class(obj) == CKO_PUBLIC_KEY)) ||
                       mech == CKM_RSA_PKCS_KEY_PAIR_GEN || mech == CKM_EC_KEY_PAIR_GEN ||
                       mech == CKM_EC_EDWARDS_KEY_PAIR_GEN
                   ? QT_ATT_EV_KEYPAIR_GENERATE
                   : QT_ATT_EV_KEY_GENERATE;
    case QT_EVENT_KEY_DESTROY:
        return QT_ATT_EV_KEY_DESTROY;
    case QT_EVENT_KEY_IMPORT:
        return QT_ATT_EV_KEY_IMPORT;
    case QT_EVENT_PIN_INIT:
        return QT_ATT_EV_PIN_INIT;
    case QT_EVENT_PIN_CHANGE:
        return QT_ATT_EV_PIN_CHANGE;
    case QT_EVENT_LOGIN_FAILURE:
        return QT_ATT_EV_LOGIN_FAILURE;
    case QT_EVENT_HEALTH_RECOVERY:
        return QT_ATT_EV_HEALTH_RECOVERY;
    case QT_EVENT_PIN_LOCKED:
        return QT_ATT_EV_PIN_LOCKED;
    case QT_EVENT_OBJECT_TAMPER:
        return QT_ATT_EV_OBJECT_TAMPER;
    case QT_EVENT_HEALTH_FAILURE:
    default:
        return QT_ATT_EV_HEALTH_FAILURE;
    }
}

/* Signs e (token serial and label filled in) with the installation's
 * attestation key and appends it to s's token log, chained to the tail. */
static qt_rc
append(struct qt_slot *s, struct qt_att_event *e)
{
    struct qt_ks_token_info ti;
    struct qt_att_key *k = NULL; /* health records only: see below */
    const struct qt_att_key *signer;
    char *prev = NULL, *jws = NULL;
    uint64_t seq = 0;
    OSSL_LIB_CTX *lc;
    int health;
    qt_rc rc;

    /* The attestation key draws on the QRNG DRBG (created on first use).  A
     * health-failure record must be signed while that DRBG refuses to serve:
     * it is signed in OpenSSL's default context (the ECDSA nonce comes from
     * the OS; no key is made there: the key must already exist). */
    health = e->type == QT_ATT_EV_HEALTH_FAILURE;
    if ((rc = qt_ks_token_info(s->tok, &ti)) != QT_OK) {
        return rc;
    }
    if (health) {
        if ((rc = qt_att_key_open_conf(&qt_mod->conf, NULL, 0, &k)) != QT_OK) {
            return rc;
        }
    } else if (qt_mod->att_key == NULL) {
        /* Opened (unsealed) once per C_Initialize, kept for later events. */
        lc = qt_mod->drbg != NULL ? qt_drbg_libctx(qt_mod->drbg) : NULL;
        if ((rc = qt_att_key_open_conf(&qt_mod->conf, lc, 1, &qt_mod->att_key)) != QT_OK) {
            return rc;
        }
    }
    signer = health ? k : qt_mod->att_key;
    e->token_serial = ti.serial;
    e->token_label = ti.label;
    if ((rc = qt_ks_log_tail(s->tok, &seq, &prev)) == QT_OK &&
        (rc = qt_att_record_build(signer, prev, seq + 1, e, &jws)) == QT_OK) {
        rc = qt_ks_log_append(s->tok, seq + 1, jws);
    }
    free(prev);
    free(jws);
    qt_att_key_free(k);
    return rc;
}

qt_rc
qt_event_record(struct qt_slot *s, enum qt_event ev, CK_MECHANISM_TYPE mech,
                const struct qt_attrs *obj)
{
    struct qt_att_key_desc kd;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    struct qt_att_event e;
    struct qt_ent_failure fail;
    char label[129];

    if (s == NULL || s->tok == NULL) {
        return QT_E_ARG;
    }
    memset(&e, 0, sizeof(e));
    e.type = att_type(ev, mech, obj);
    evidence(&en, &di, ev == QT_EVENT_KEY_GENERATE);
    e.entropy = &en;
    if (obj != NULL && (ev == QT_EVENT_KEY_GENERATE || ev == QT_EVENT_KEY_DESTROY ||
                        ev == QT_EVENT_KEY_IMPORT)) {
        describe_key(obj, mech, &kd, label, sizeof(label));
        e.key = &kd;
    }
    if (ev == QT_EVENT_HEALTH_FAILURE) {
        if (qt_mod->pipe != NULL) {
            qt_ent_pipeline_last_failure(qt_mod->pipe, &fail);
            e.test = qt_ent_test_name(fail.test);
            e.note = fail.detail[0] != '\0' ? fail.detail : NULL;
        } else {
            e.test = qt_ent_test_name(QT_ENT_TEST_STARTUP);
            e.note = "entropy device unusable: start-up failed";
        }
    }
    if (ev == QT_EVENT_PIN_INIT) {
        e.user = "user";
    } else if (ev == QT_EVENT_PIN_CHANGE || ev == QT_EVENT_LOGIN_FAILURE ||
               ev == QT_EVENT_PIN_LOCKED) {
        e.user = s->login == CKU_SO ? "so" : "user";
    }
    return append(s, &e);
}

qt_rc
qt_event_login_failure(void *slot, enum qt_ks_user who, unsigned failures, unsigned limit)
{
    struct qt_slot *s = slot;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    struct qt_att_event e;
    qt_rc rc;

    if (s == NULL || s->tok == NULL) {
        return QT_E_ARG;
    }
    memset(&e, 0, sizeof(e));
    evidence(&en, &di, 0);
    e.entropy = &en;
    e.user = who == QT_KS_SO ? "so" : "user";
    e.pin_failures = failures;
    e.pin_limit = limit;
    e.type = QT_ATT_EV_LOGIN_FAILURE;
    if ((rc = append(s, &e)) != QT_OK || failures < limit) {
        return rc;
    }
    e.type = QT_ATT_EV_PIN_LOCKED;
    return append(s, &e);
}

/* Objects already recorded as tampered in this process: (token serial,
 * object id).  Used under the module lock (every keystore call is). */
struct tamper_seen {
    char serial[17];
    uint64_t id;
};
static struct tamper_seen *seen;
static size_t seen_n, seen_cap;

static int
tamper_seen(const char *serial, uint64_t id)
{
    for (size_t i = 0; i < seen_n; i++) {
        if (seen[i].id == id && strcmp(seen[i].serial, serial) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
on_tamper(void *ctx, struct qt_ks_token *t, uint64_t id)
{
    struct qt_slot *s = ctx;
    struct qt_ks_token_info ti;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    struct qt_att_event e;
    struct tamper_seen *n;
    qt_rc rc;

    if (s == NULL || s->tok != t || qt_ks_token_info(t, &ti) != QT_OK ||
        tamper_seen(ti.serial, id)) {
        return;
    }
    if (seen_n == seen_cap) {
        n = realloc(seen, (seen_cap ? 2 * seen_cap : 16) * sizeof(*seen));
        if (n == NULL) {
            qt_log(QT_LOG_ERROR, "pkcs11: object %llu tampered: no memory to record it",
                   (unsigned long long)id);
            return;
        }
        seen = n;
        seen_cap = seen_cap ? 2 * seen_cap : 16;
    }
    memset(&e, 0, sizeof(e));
    evidence(&en, &di, 0);
    e.entropy = &en;
    e.type = QT_ATT_EV_OBJECT_TAMPER;
    e.object_id = id;
    e.note = "object failed its MAC or seal: refused";
    if ((rc = qt_ks_txn_begin(t)) == QT_OK) {
        if ((rc = append(s, &e)) == QT_OK) {
            rc = qt_ks_txn_commit(t);
        } else {
            qt_ks_txn_rollback(t);
        }
    }
    if (rc != QT_OK) {
        /* not marked seen: the next read of the object tries again */
        qt_log(QT_LOG_ERROR, "pkcs11: object %llu tampered: recording it failed: %s",
               (unsigned long long)id, qt_rc_str(rc));
        return;
    }
    memcpy(seen[seen_n].serial, ti.serial, sizeof(seen[seen_n].serial));
    seen[seen_n].id = id;
    seen_n++;
}

void
qt_event_watch_tamper(struct qt_slot *s)
{
    if (s != NULL && s->tok != NULL) {
        qt_ks_token_set_tamper_hook(s->tok, on_tamper, s);
    }
}
