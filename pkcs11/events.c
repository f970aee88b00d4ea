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
 * closed.  Session-object key generations are recorded in batches unless
 * [attest] session_keys = each: see "Session-key records in batches" below.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ***************************************************************************
 * Appending records
 * ***************************************************************************/

/* The key that signs a record: the installation's attestation key, opened
 * (unsealed) once per C_Initialize in the QRNG DRBG's context; or, for
 * health records (health != 0), a copy opened in OpenSSL's default context
 * (*tmp, freed by the caller).  The attestation key draws on the QRNG DRBG
 * for its ECDSA nonces: a health-failure record must be signed while that
 * DRBG refuses to serve, so it is signed in the default context (the nonce
 * comes from the OS; no key is made there: the key must already exist). */
static qt_rc
open_signer(int health, struct qt_att_key **tmp, const struct qt_att_key **signer)
{
    OSSL_LIB_CTX *lc;
    qt_rc rc;

    *tmp = NULL;
    if (health) {
        QT_TRY(qt_att_key_open_conf(&qt_mod->conf, NULL, 0, tmp));
        *signer = *tmp;
        return QT_OK;
    }
    if (qt_mod->att_key == NULL) {
        lc = qt_mod->drbg != NULL ? qt_drbg_libctx(qt_mod->drbg) : NULL;
        if ((rc = qt_att_key_open_conf(&qt_mod->conf, lc, 1, &qt_mod->att_key)) != QT_OK) {
            return rc;
        }
    }
    *signer = qt_mod->att_key;
    return QT_OK;
}

/* Signs e (token serial and label filled in) with signer and appends it to
 * s's token log, chained to the tail.  *seq_out and hash (may be NULL) get
 * the new record's seq and hash; prev_seq and prev_hash (may be NULL) those
 * of the record it was chained to (0 and "" when it is the first). */
static qt_rc
chain_append(struct qt_slot *s, const struct qt_att_key *signer, struct qt_att_event *e,
             uint64_t *seq_out, char *hash, uint64_t *prev_seq, char *prev_hash)
{
    struct qt_ks_token_info ti;
    char *prev = NULL, *jws = NULL;
    uint64_t seq = 0;
    qt_rc rc;

    QT_TRY(qt_ks_token_info(s->tok, &ti));
    e->token_serial = ti.serial;
    e->token_label = ti.label;
    if ((rc = qt_ks_log_tail(s->tok, &seq, &prev)) == QT_OK &&
        (rc = qt_att_record_build(signer, prev, seq + 1, e, &jws)) == QT_OK &&
        (rc = qt_ks_log_append(s->tok, seq + 1, jws)) == QT_OK) {
        if (seq_out != NULL) {
            *seq_out = seq + 1;
        }
        if (hash != NULL) {
            rc = qt_att_record_hash(jws, hash);
        }
        if (prev_seq != NULL) {
            *prev_seq = seq;
        }
        if (rc == QT_OK && prev_hash != NULL) {
            prev_hash[0] = '\0';
            rc = prev != NULL ? qt_att_record_hash(prev, prev_hash) : QT_OK;
        }
    }
    free(prev);
    free(jws);
    return rc;
}

static qt_rc batch_write_inflight(struct qt_slot *s, const struct qt_att_key *signer,
                                  enum qt_att_event_type next);
static int batch_tracking(const struct qt_slot *s);
static void batch_note_append(struct qt_slot *s, uint64_t prev_seq, const char *prev_hash,
                              uint64_t seq, const char *hash);

/* Appends e to s's token log, in the caller's transaction.  The session-key
 * records queued on s (if any) go first, as one session-keys record: the
 * log stays in event order. */
static qt_rc
append(struct qt_slot *s, struct qt_att_event *e)
{
    struct qt_att_key *k = NULL;
    const struct qt_att_key *signer;
    char hash[QT_ATT_HASH_HEX], prev_hash[QT_ATT_HASH_HEX];
    uint64_t seq = 0, prev_seq = 0;
    int track;
    qt_rc rc;

    if ((rc = open_signer(e->type == QT_ATT_EV_HEALTH_FAILURE, &k, &signer)) != QT_OK) {
        return rc;
    }
    if ((rc = batch_write_inflight(s, signer, e->type)) == QT_OK) {
        track = batch_tracking(s);
        rc = chain_append(s, signer, e, &seq, track ? hash : NULL, &prev_seq,
                          track ? prev_hash : NULL);
        if (rc == QT_OK && track) {
            batch_note_append(s, prev_seq, prev_hash, seq, hash);
        }
    }
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

/* ***************************************************************************
 * Session-key records in batches ([attest] session_keys = batch)
 * ***************************************************************************
 *
 * A token object and its record commit in one keystore transaction.  A
 * session object has no transaction: it lives in this process's memory and
 * dies with it.  Writing one signed record per session key (one fsync each,
 * under the module lock) caps session key generation at the disk's fsync
 * rate, so in batch mode each session key's description (what its own
 * record would say, and its own evidence: bits drawn, prediction
 * resistance, time; never a secret) is queued per slot, and the queue is
 * written as one session-keys record:
 *
 *   - when it holds BATCH_MAX keys (the generation that triggers the
 *     write fails if the write fails, its key taken back out: no key is
 *     handed out whose record is known lost), or at the next call into the
 *     module once its oldest key is BATCH_AGE_NS old (qt_event_tick_inlock,
 *     from qt_lock: a failure there is logged and tried again);
 *   - before any other record of the token (append above), so the log
 *     stays in event order; for a token key, in its own transaction before
 *     the key's (qt_event_flush_inlock);
 *   - at C_CloseSession / C_CloseAllSessions on the slot, C_Logout and
 *     C_Finalize; a failure there is logged with the number of records
 *     lost, and the queue emptied.
 *
 * A forked child never writes what it inherited: its C_Initialize abandons
 * the parent's module state, queues included (module.c).
 *
 * Records written by append() join the caller's transaction, which may
 * still roll back after the write (its own change failing).  Those keys
 * stay queued as "in flight" until a later call, outside any transaction,
 * finds out whether the record was committed (batch_confirm): if it was,
 * they are dropped; if not, they are written again with the next batch.
 * Every queue operation runs under the module lock.
 */

#define BATCH_MAX 256
#define BATCH_AGE_NS 1000000000LL

struct batch_entry {
    struct qt_att_batch_key b; /* b.key.id and b.key.label are set only while writing */
    uint8_t *id;               /* copy of CKA_ID (malloc'ed), NULL if none */
    char label[129];
    int has_label;
    struct timespec queued; /* CLOCK_MONOTONIC */
};

struct qt_event_batch {
    struct batch_entry e[BATCH_MAX];
    size_t n;        /* queued keys, e[0..n) */
    int prepared;    /* e[n] was filled by prepare, not yet counted */
    int busy;        /* a batch is being written: append() leaves the queue alone */
    size_t inflight; /* e[0..inflight) were written inside a caller's transaction */
    uint64_t inflight_seq;
    char inflight_hash[QT_ATT_HASH_HEX];
    uint64_t last_seq; /* the last record appended since, chained to it (0: none) */
    char last_hash[QT_ATT_HASH_HEX];
    int chain_broken; /* a record not chained to ours came between: last_seq unusable */
};

/* Removes the first k entries (freeing their CKA_ID copies). */
static void
batch_drop_front(struct qt_event_batch *b, size_t k)
{
    size_t keep;

    if (k > b->n) {
        k = b->n;
    }
    for (size_t i = 0; i < k; i++) {
        free(b->e[i].id);
    }
    keep = b->n - k + (b->prepared ? 1 : 0);
    memmove(&b->e[0], &b->e[k], keep * sizeof(b->e[0]));
    memset(&b->e[keep], 0, k * sizeof(b->e[0]));
    b->n -= k;
    b->inflight = k >= b->inflight ? 0 : b->inflight - k;
}

/* Builds and appends (in the caller's transaction, if any) the session-keys
 * record of e[0..n), signed by signer. */
static qt_rc
batch_write(struct qt_slot *s, const struct qt_att_key *signer, size_t n, uint64_t *seq,
            char hash[QT_ATT_HASH_HEX])
{
    struct qt_event_batch *b = s->batch;
    struct qt_att_batch_key *keys;
    struct qt_att_entropy en;
    struct qt_dev_info di;
    struct qt_att_event e;
    qt_rc rc;

    if ((keys = calloc(n, sizeof(*keys))) == NULL) {
        return QT_E_NOMEM;
    }
    memset(&e, 0, sizeof(e));
    e.type = QT_ATT_EV_SESSION_KEYS;
    /* The source's state now; bits_drawn totals the keys' own figures, and
     * prediction_resistance holds if it held for every key. */
    evidence(&en, &di, 0);
    en.prediction_resistance = 1;
    for (size_t i = 0; i < n; i++) {
        keys[i] = b->e[i].b;
        keys[i].key.id = b->e[i].id;
        keys[i].key.label = b->e[i].has_label ? b->e[i].label : NULL;
        en.bits_drawn += keys[i].bits_drawn;
        en.prediction_resistance &= keys[i].prediction_resistance;
    }
    e.entropy = &en;
    e.keys = keys;
    e.nkeys = n;
    b->busy = 1; /* the commit may run the tamper hook, which appends */
    rc = chain_append(s, signer, &e, seq, hash, NULL, NULL);
    b->busy = 0;
    free(keys);
    return rc;
}

/* append()'s part: before record `next` of s's token, the queued keys not
 * yet written, as one session-keys record in the caller's transaction;
 * they stay queued, in flight, until batch_confirm. */
static qt_rc
batch_write_inflight(struct qt_slot *s, const struct qt_att_key *signer,
                     enum qt_att_event_type next)
{
    struct qt_event_batch *b = s->batch;
    qt_rc rc;

    if (b == NULL || b->busy || b->n == 0 || b->inflight > 0) {
        /* in flight: queued keys were all written before this call's first
         * record (every key generation confirms first), nothing new since */
        return QT_OK;
    }
    if (next == QT_ATT_EV_TOKEN_INIT) {
        /* a token re-initialised over its old log: these keys' token is gone */
        qt_log(QT_LOG_ERROR, "pkcs11: token re-initialised: %zu session-key records lost", b->n);
        batch_drop_front(b, b->n);
        return QT_OK;
    }
    if ((rc = batch_write(s, signer, b->n, &b->inflight_seq, b->inflight_hash)) != QT_OK) {
        return rc;
    }
    b->inflight = b->n;
    b->last_seq = 0;
    b->chain_broken = 0;
    return QT_OK;
}

/* Whether append() follows the records it writes after an in-flight batch. */
static int
batch_tracking(const struct qt_slot *s)
{
    return s->batch != NULL && s->batch->inflight > 0 && !s->batch->chain_broken;
}

/* Record (seq, hash), chained to (prev_seq, prev_hash), was appended while a
 * batch is in flight.  While each such record is chained to the previous
 * one (the first to the batch), the last one's presence in the log proves
 * the batch committed; once another record came between, only looking the
 * batch up does (batch_confirm). */
static void
batch_note_append(struct qt_slot *s, uint64_t prev_seq, const char *prev_hash, uint64_t seq,
                  const char *hash)
{
    struct qt_event_batch *b = s->batch;
    uint64_t want_seq = b->last_seq != 0 ? b->last_seq : b->inflight_seq;
    const char *want_hash = b->last_seq != 0 ? b->last_hash : b->inflight_hash;

    if (prev_seq == want_seq && strcmp(prev_hash, want_hash) == 0) {
        b->last_seq = seq;
        memcpy(b->last_hash, hash, QT_ATT_HASH_HEX);
    } else {
        b->last_seq = 0;
        b->chain_broken = 1;
    }
}

struct find_seq {
    uint64_t seq;
    int found;
    char hash[QT_ATT_HASH_HEX];
};

static qt_rc
find_seq_cb(void *ctx, uint64_t seq, const char *jws)
{
    struct find_seq *f = ctx;

    if (seq != f->seq) {
        return QT_OK;
    }
    f->found = qt_att_record_hash(jws, f->hash) == QT_OK;
    return QT_E_NOTFOUND; /* stop: the record was seen */
}

/* Outside any transaction: whether the in-flight session-keys record was
 * committed (its keys are dropped) or rolled back (they are queued again). */
static qt_rc
batch_confirm(struct qt_slot *s)
{
    struct qt_event_batch *b = s->batch;
    char tail_hash[QT_ATT_HASH_HEX];
    struct find_seq f;
    char *tail = NULL;
    uint64_t seq = 0;
    int committed;
    qt_rc rc;

    if (b == NULL || b->inflight == 0) {
        return QT_OK;
    }
    QT_TRY(qt_ks_log_tail(s->tok, &seq, &tail));
    if (seq < b->inflight_seq) {
        committed = 0; /* the log never reached that seq again */
    } else if ((rc = qt_att_record_hash(tail, tail_hash)) != QT_OK) {
        free(tail);
        return rc;
    } else if (b->last_seq != 0 && seq == b->last_seq && strcmp(tail_hash, b->last_hash) == 0) {
        committed = 1; /* our last record is the tail: its chain holds the batch */
    } else if (seq == b->inflight_seq) {
        committed = strcmp(tail_hash, b->inflight_hash) == 0;
    } else {
        /* other processes appended since: look the record up */
        memset(&f, 0, sizeof(f));
        f.seq = b->inflight_seq;
        rc = qt_ks_log_each(s->tok, find_seq_cb, &f);
        if (rc != QT_OK && rc != QT_E_NOTFOUND) {
            free(tail);
            return rc;
        }
        committed = f.found && strcmp(f.hash, b->inflight_hash) == 0;
    }
    free(tail);
    if (committed) {
        batch_drop_front(b, b->inflight);
    } else {
        qt_log(QT_LOG_INFO, "pkcs11: a session-keys record was rolled back: %zu keys stay queued",
               b->inflight);
        b->inflight = 0;
    }
    return QT_OK;
}

/* Writes every queued key of s as one session-keys record, in a transaction
 * of its own; dropped from the queue once committed. */
static qt_rc
batch_flush(struct qt_slot *s)
{
    struct qt_event_batch *b = s->batch;
    struct qt_att_key *k = NULL;
    const struct qt_att_key *signer;
    uint64_t seq;
    char hash[QT_ATT_HASH_HEX];
    size_t n;
    qt_rc rc;

    if (b == NULL || s->tok == NULL) {
        return QT_OK;
    }
    QT_TRY(batch_confirm(s));
    if ((n = b->n) == 0) {
        return QT_OK;
    }
    /* as for health records: signed in the default context while the
     * QRNG DRBG refuses to serve */
    QT_TRY(open_signer(qt_mod->health_failed, &k, &signer));
    if ((rc = qt_ks_txn_begin(s->tok)) == QT_OK) {
        if ((rc = batch_write(s, signer, n, &seq, hash)) == QT_OK) {
            rc = qt_ks_txn_commit(s->tok);
        } else {
            qt_ks_txn_rollback(s->tok);
        }
    }
    qt_att_key_free(k);
    if (rc == QT_OK) {
        batch_drop_front(b, n);
    }
    return rc;
}

static int
batch_due(const struct qt_event_batch *b)
{
    struct timespec now;
    long long age;

    if (b->n >= BATCH_MAX) {
        return 1;
    }
    if (b->n == 0 || clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        return 0;
    }
    age = (long long)(now.tv_sec - b->e[0].queued.tv_sec) * 1000000000LL +
          (now.tv_nsec - b->e[0].queued.tv_nsec);
    return age >= BATCH_AGE_NS;
}

qt_rc
qt_event_session_key_prepare_inlock(struct qt_slot *s, CK_MECHANISM_TYPE mech,
                                    const struct qt_attrs *obj)
{
    struct qt_att_key_desc *kd;
    struct batch_entry *en;
    struct qt_event_batch *b;

    QT_ENSURE(s != NULL && s->tok != NULL && obj != NULL, QT_E_ARG);
    if (s->batch == NULL && (s->batch = calloc(1, sizeof(*s->batch))) == NULL) {
        return QT_E_NOMEM;
    }
    b = s->batch;
    QT_TRY(batch_confirm(s));
    if (b->n >= BATCH_MAX) {
        QT_TRY(batch_flush(s)); /* left full by failed writes */
    }
    en = &b->e[b->n];
    free(en->id);
    memset(en, 0, sizeof(*en));
    b->prepared = 1;
    kd = &en->b.key;
    describe_key(obj, mech, kd, en->label, sizeof(en->label));
    en->has_label = kd->label != NULL;
    kd->label = NULL;
    if (kd->id != NULL && kd->id_len > 0) {
        if ((en->id = malloc(kd->id_len)) == NULL) {
            b->prepared = 0;
            return QT_E_NOMEM;
        }
        memcpy(en->id, kd->id, kd->id_len);
    } else {
        kd->id_len = 0;
    }
    kd->id = NULL;
    en->b.type = att_type(QT_EVENT_KEY_GENERATE, mech, obj);
    en->b.time = (int64_t)time(NULL);
    /* key generation runs with prediction resistance (fn_keygen.c) */
    en->b.bits_drawn = qt_keygen_bits_drawn();
    en->b.prediction_resistance = 1;
    (void)clock_gettime(CLOCK_MONOTONIC, &en->queued);
    return QT_OK;
}

qt_rc
qt_event_session_key_commit_inlock(struct qt_slot *s)
{
    struct qt_event_batch *b = s != NULL ? s->batch : NULL;
    qt_rc rc;

    QT_ENSURE(b != NULL && b->prepared && b->n < BATCH_MAX, QT_E_STATE);
    b->prepared = 0;
    b->n++;
    if (!batch_due(b) || (rc = batch_flush(s)) == QT_OK) {
        return QT_OK;
    }
    /* this key is not handed out: take it back out; the others stay queued */
    b->n--;
    free(b->e[b->n].id);
    memset(&b->e[b->n], 0, sizeof(b->e[b->n]));
    if (b->inflight > b->n) {
        b->inflight = b->n;
    }
    return rc;
}

void
qt_event_tick_inlock(void)
{
    for (size_t i = 0; i < qt_mod->nslots; i++) {
        struct qt_slot *s = qt_mod->slots[i];
        struct qt_event_batch *b = s != NULL ? s->batch : NULL;
        qt_rc rc;

        if (b == NULL || b->n == 0 || b->prepared || s->tok == NULL || !batch_due(b)) {
            continue;
        }
        if (OPENSSL_init_crypto(0, NULL) != 1) {
            return; /* after OPENSSL_cleanup (an atexit call): C_Finalize reports the loss */
        }
        if ((rc = batch_flush(s)) != QT_OK) {
            qt_log(QT_LOG_WARN,
                   "pkcs11: %zu session-key attestation records not written yet (%s); tried "
                   "again at the next call",
                   b->n, qt_rc_str(rc));
        }
    }
}

qt_rc
qt_event_flush_inlock(struct qt_slot *s)
{
    return s != NULL ? batch_flush(s) : QT_E_ARG;
}

void
qt_event_flush_or_drop_inlock(struct qt_slot *s, const char *why)
{
    struct qt_event_batch *b = s != NULL ? s->batch : NULL;
    qt_rc rc;

    if (b == NULL || b->n == 0) {
        return;
    }
    if ((rc = batch_flush(s)) != QT_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: %s: %zu session-key attestation records lost: %s", why, b->n,
               qt_rc_str(rc));
        batch_drop_front(b, b->n);
    }
}

void
qt_event_finalize_inlock(int write)
{
    for (size_t i = 0; i < qt_mod->nslots; i++) {
        struct qt_slot *s = qt_mod->slots[i];
        struct qt_event_batch *b = s->batch;

        if (b == NULL) {
            continue;
        }
        if (write) {
            qt_event_flush_or_drop_inlock(s, "C_Finalize");
        } else if (b->n > 0) {
            qt_log(QT_LOG_ERROR,
                   "pkcs11: C_Finalize after OpenSSL's cleanup: %zu session-key attestation "
                   "records lost",
                   b->n);
        }
        batch_drop_front(b, b->n);
        if (b->prepared) {
            free(b->e[0].id);
        }
        free(b);
        s->batch = NULL;
    }
}
