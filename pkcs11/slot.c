/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Slots: one per token database of the store, plus one "empty" slot that
 * holds an uninitialised token, where C_InitToken creates a new token.
 * Slot ids are indexes into qt_mod->slots and never change while the module
 * is initialised: tokens created by other processes are appended by a
 * rescan (C_GetSlotList size query), and when the empty slot's token is
 * initialised a new empty slot is appended.
 *
 * Login state is per token (per slot) and shared by all sessions of this
 * process, as PKCS#11 3.0 5.6 describes; it mirrors the keystore handle's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../src/common/log.h"
#include "p11.h"

static CK_RV
slot_append_inlock(struct qt_ks_token *tok, const char *path)
{
    struct qt_module *m = qt_mod;
    struct qt_slot **v, *s;

    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    if ((v = realloc(m->slots, (m->nslots + 1) * sizeof(*v))) == NULL) {
        free(s);
        return CKR_HOST_MEMORY;
    }
    m->slots = v;
    s->id = (CK_SLOT_ID)m->nslots;
    s->tok = tok;
    s->login = QT_NOT_LOGGED_IN;
    snprintf(s->path, sizeof(s->path), "%s", path ? path : "");
    m->slots[m->nslots++] = s;
    return CKR_OK;
}

static int
slot_has_path_inlock(const char *path)
{
    for (size_t i = 0; i < qt_mod->nslots; i++) {
        if (qt_mod->slots[i]->tok != NULL && strcmp(qt_mod->slots[i]->path, path) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Opens every listed token not yet in a slot. */
static CK_RV
scan_inlock(void)
{
    char **paths = NULL;
    size_t n = 0;
    CK_RV rv = CKR_OK;
    qt_rc rc;

    if ((rc = qt_ks_list(&qt_mod->ksenv, &paths, &n)) != QT_OK) {
        qt_log(QT_LOG_WARN, "pkcs11: listing tokens in '%s': %s", qt_mod->ksenv.store_dir,
               qt_rc_str(rc));
        return CKR_OK; /* an unreadable store shows no tokens, like an empty one */
    }
    for (size_t i = 0; i < n && rv == CKR_OK; i++) {
        struct qt_ks_token *tok = NULL;

        if (slot_has_path_inlock(paths[i])) {
            continue;
        }
        if ((rc = qt_ks_token_open(&qt_mod->ksenv, paths[i], &tok)) != QT_OK) {
            qt_log(QT_LOG_WARN, "pkcs11: token '%s' not opened: %s", paths[i], qt_rc_str(rc));
            continue;
        }
        if ((rv = slot_append_inlock(tok, paths[i])) != CKR_OK) {
            qt_ks_token_close(tok);
        }
    }
    qt_ks_free_list(paths, n);
    return rv;
}

CK_RV
qt_slots_load_inlock(void)
{
    CK_RV rv;

    if ((rv = scan_inlock()) != CKR_OK) {
        return rv;
    }
    return slot_append_inlock(NULL, NULL);
}

CK_RV
qt_slots_load_empty_inlock(void)
{
    return slot_append_inlock(NULL, NULL);
}

CK_RV
qt_slots_rescan_inlock(void)
{
    return scan_inlock();
}

void
qt_slots_free_inlock(void)
{
    for (size_t i = 0; i < qt_mod->nslots; i++) {
        qt_ks_token_close(qt_mod->slots[i]->tok);
        free(qt_mod->slots[i]);
    }
    free(qt_mod->slots);
    qt_mod->slots = NULL;
    qt_mod->nslots = 0;
}

CK_RV
qt_slot_get_inlock(CK_SLOT_ID id, struct qt_slot **out)
{
    if (id >= qt_mod->nslots) {
        return CKR_SLOT_ID_INVALID;
    }
    *out = qt_mod->slots[id];
    return CKR_OK;
}

static void
end_ops(void *val, void *ctx)
{
    struct qt_session *sess = val;

    if (sess->slot == ctx) {
        qt_session_ops_lock(sess);
        for (int k = 0; k < QT_OP__COUNT; k++) {
            qt_op_end(&sess->ops[k]);
        }
        qt_session_ops_unlock(sess);
    }
}

void
qt_slot_logout_inlock(struct qt_slot *s)
{
    if (s->login == QT_NOT_LOGGED_IN) {
        return;
    }
    /* PKCS#11 3.0 5.6 C_Logout: private session objects are destroyed and
     * handles to private objects become invalid; operations end. */
    qt_map_each(&qt_mod->sessions, end_ops, s);
    qt_object_drop_session_inlock(s, 0, 1);
    qt_object_forget_private_inlock(s);
    s->login = QT_NOT_LOGGED_IN;
    if (s->tok != NULL) {
        qt_ks_logout(s->tok);
    }
}

static void
utc_time(CK_CHAR out[16])
{
    char buf[64];
    struct tm tm;
    time_t now = time(NULL);

    gmtime_r(&now, &tm);
    snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 16);
}

CK_RV
qt_slot_token_info_inlock(struct qt_slot *s, CK_TOKEN_INFO *info)
{
    struct qt_ks_token_info ti;
    qt_rc rc;

    memset(info, 0, sizeof(*info));
    qt_pad(info->manufacturerID, sizeof(info->manufacturerID), QT_P11_MANUFACTURER);
    qt_pad(info->model, sizeof(info->model), "QRNG token");
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_CLOCK_ON_TOKEN;
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = s->sessions;
    info->ulRwSessionCount = s->rw_sessions;
    info->ulMaxPinLen = QT_P11_MAX_PIN;
    info->ulMinPinLen = QT_P11_MIN_PIN;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = 0;
    info->hardwareVersion.minor = 1;
    info->firmwareVersion.major = 0;
    info->firmwareVersion.minor = 1;
    utc_time(info->utcTime);
    if (s->tok == NULL) {
        /* the uninitialised token of the empty slot */
        qt_pad(info->label, sizeof(info->label), "");
        qt_pad(info->serialNumber, sizeof(info->serialNumber), "");
        return CKR_OK;
    }
    if ((rc = qt_ks_token_info(s->tok, &ti)) != QT_OK) {
        return qt_rv(rc);
    }
    qt_pad(info->label, sizeof(info->label), ti.label);
    qt_pad(info->serialNumber, sizeof(info->serialNumber), ti.serial);
    info->flags |= CKF_TOKEN_INITIALIZED;
    if (ti.user_pin_initialized) {
        info->flags |= CKF_USER_PIN_INITIALIZED;
    }
    /* PIN state flags, as ks.h defines the counters */
    if (ti.user_pin_locked) {
        info->flags |= CKF_USER_PIN_LOCKED;
    } else if (ti.user_failures > 0) {
        info->flags |= CKF_USER_PIN_COUNT_LOW;
        if (ti.max_failures > 0 && ti.user_failures == ti.max_failures - 1) {
            info->flags |= CKF_USER_PIN_FINAL_TRY;
        }
    }
    if (ti.so_pin_locked) {
        info->flags |= CKF_SO_PIN_LOCKED;
    } else if (ti.so_failures > 0) {
        info->flags |= CKF_SO_PIN_COUNT_LOW;
        if (ti.max_failures > 0 && ti.so_failures == ti.max_failures - 1) {
            info->flags |= CKF_SO_PIN_FINAL_TRY;
        }
    }
    return CKR_OK;
}
