/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.6 "Session management functions": opening and closing
 * sessions, session information, and the login state machine (public, user,
 * SO; RO and RW sessions), plus the 3.0 C_LoginUser and C_SessionCancel.
 * C_GetOperationState/C_SetOperationState are not supported (fn_general.c).
 */
#include <stdlib.h>
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"

#ifndef CKF_FIND_OBJECTS
#define CKF_FIND_OBJECTS 0x00000040UL /* PKCS#11 3.0 C_SessionCancel flag */
#endif

static CK_RV
open_session(CK_SLOT_ID id, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out)
{
    struct qt_slot *slot;
    CK_RV rv;

    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &slot)) != CKR_OK) {
        goto out;
    }
    if (!(flags & CKF_SERIAL_SESSION)) {
        rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
        goto out;
    }
    if (slot->tok == NULL) {
        rv = CKR_TOKEN_NOT_RECOGNIZED; /* the empty slot: C_InitToken first */
        goto out;
    }
    if (!(flags & CKF_RW_SESSION) && slot->login == CKU_SO) {
        rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
        goto out;
    }
    rv = qt_session_open_inlock(slot, flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION), out);
    if (rv == CKR_OK) {
        qt_event_watch_tamper(slot); /* objects are read only through sessions */
    }
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                 CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication; /* no notifications are ever sent */
    (void)Notify;
    QT_ENTRY("C_OpenSession", open_session(slotID, flags, phSession), "slot=%lu flags=0x%lx",
             (unsigned long)slotID, (unsigned long)flags);
}

static CK_RV
close_session(CK_SESSION_HANDLE h)
{
    struct qt_session *s;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) == CKR_OK) {
        qt_event_flush_or_drop_inlock(s->slot, "C_CloseSession");
        qt_session_close_inlock(s);
    }
    qt_unlock();
    return rv;
}

CK_RV
qt_C_CloseSession(CK_SESSION_HANDLE hSession)
{
    QT_ENTRY("C_CloseSession", close_session(hSession), "session=%lu", (unsigned long)hSession);
}

static CK_RV
close_all(CK_SLOT_ID id)
{
    struct qt_slot *slot;
    void **all = NULL;
    size_t n = 0;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &slot)) != CKR_OK) {
        goto out;
    }
    qt_event_flush_or_drop_inlock(slot, "C_CloseAllSessions");
    if ((rv = qt_map_values(&qt_mod->sessions, &all, &n)) != CKR_OK) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct qt_session *s = all[i];

        if (s->slot == slot) {
            qt_session_close_inlock(s);
        }
    }
out:
    free(all);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_CloseAllSessions(CK_SLOT_ID slotID)
{
    QT_ENTRY("C_CloseAllSessions", close_all(slotID), "slot=%lu", (unsigned long)slotID);
}

static CK_RV
session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
    struct qt_session *s;
    CK_RV rv;

    if (info == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) == CKR_OK) {
        memset(info, 0, sizeof(*info));
        info->slotID = s->slot->id;
        info->state = qt_session_state(s);
        info->flags = s->flags;
        info->ulDeviceError = 0;
    }
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    QT_ENTRY("C_GetSessionInfo", session_info(hSession, pInfo), "session=%lu",
             (unsigned long)hSession);
}

static int
has_ro_session_inlock(const struct qt_slot *slot)
{
    return slot->sessions > slot->rw_sessions;
}

static CK_RV
login(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    struct qt_ks_token_info ti;
    struct qt_session *s;
    struct qt_slot *slot;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    slot = s->slot;
    if (who != CKU_SO && who != CKU_USER && who != CKU_CONTEXT_SPECIFIC) {
        rv = CKR_USER_TYPE_INVALID;
        goto out;
    }
    if (pin == NULL) {
        rv = CKR_ARGUMENTS_BAD; /* no protected authentication path */
        goto out;
    }
    if (who == CKU_CONTEXT_SPECIFIC) {
        /* PKCS#11 3.0 5.6: only for an operation on a key that needs it
         * (CKA_ALWAYS_AUTHENTICATE); re-checks the user's PIN */
        int active;

        qt_session_ops_lock(s);
        active = (s->ops[QT_OP_SIGN].stage != QT_STAGE_NONE && s->ops[QT_OP_SIGN].auth_needed) ||
                 (s->ops[QT_OP_DECRYPT].stage != QT_STAGE_NONE &&
                  s->ops[QT_OP_DECRYPT].auth_needed);
        qt_session_ops_unlock(s);
        if (!active) {
            rv = CKR_OPERATION_NOT_INITIALIZED;
            goto out;
        }
        if (slot->login != CKU_USER) {
            rv = CKR_USER_NOT_LOGGED_IN;
            goto out;
        }
        if (len == 0 || len > QT_P11_MAX_PIN) {
            rv = CKR_PIN_INCORRECT;
            goto out;
        }
        rc = qt_ks_login_cb(slot->tok, QT_KS_USER, pin, (size_t)len, qt_event_login_failure, slot);
        if ((rv = qt_rv(rc)) == CKR_OK) {
            qt_session_ops_lock(s);
            s->ops[QT_OP_SIGN].authed = s->ops[QT_OP_SIGN].auth_needed;
            s->ops[QT_OP_DECRYPT].authed = s->ops[QT_OP_DECRYPT].auth_needed;
            qt_session_ops_unlock(s);
        }
        goto out;
    }
    if (slot->login == who) {
        rv = CKR_USER_ALREADY_LOGGED_IN;
        goto out;
    }
    if (slot->login != QT_NOT_LOGGED_IN) {
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
        goto out;
    }
    if (who == CKU_SO && has_ro_session_inlock(slot)) {
        rv = CKR_SESSION_READ_ONLY_EXISTS;
        goto out;
    }
    if ((rc = qt_ks_token_info(slot->tok, &ti)) != QT_OK) {
        rv = qt_rv(rc);
        goto out;
    }
    if (who == CKU_USER && !ti.user_pin_initialized) {
        rv = CKR_USER_PIN_NOT_INITIALIZED;
        goto out;
    }
    if (len == 0 || len > QT_P11_MAX_PIN) {
        rv = CKR_PIN_INCORRECT; /* no PIN of this length exists */
        goto out;
    }
    /* A wrong PIN: the keystore calls qt_event_login_failure inside the
     * transaction that re-verifies the counter it committed before the
     * check, so login-failure (and pin-locked at the limit) commit with
     * it; if the record cannot be written that error is returned. */
    rc = qt_ks_login_cb(slot->tok, who == CKU_SO ? QT_KS_SO : QT_KS_USER, pin, (size_t)len,
                        qt_event_login_failure, slot);
    if (rc != QT_OK) {
        rv = rc == QT_E_STATE ? CKR_USER_PIN_NOT_INITIALIZED : qt_rv(rc);
        goto out;
    }
    slot->login = who;
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
           CK_ULONG ulPinLen)
{
    QT_ENTRY("C_Login", login(hSession, userType, pPin, ulPinLen), "session=%lu user=%lu",
             (unsigned long)hSession, (unsigned long)userType);
}

/* PKCS#11 3.0 5.6 C_LoginUser: qtoken has no user names; a login without
 * one is C_Login, a name is refused as an invalid argument. */
CK_RV
qt_C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
               CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
    CK_RV rv;

    qt_trace("C_LoginUser session=%lu user=%lu", (unsigned long)hSession,
             (unsigned long)userType);
    if ((rv = qt_module_check()) != CKR_OK) {
        goto out;
    }
    if ((pUsername == NULL && ulUsernameLen > 0) || ulUsernameLen > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = login(hSession, userType, pPin, ulPinLen);
out:
    qt_trace("C_LoginUser -> %s", qt_ckr_name(rv));
    return rv;
}

static CK_RV
logout(CK_SESSION_HANDLE h)
{
    struct qt_session *s;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (s->slot->login == QT_NOT_LOGGED_IN) {
        rv = CKR_USER_NOT_LOGGED_IN;
        goto out;
    }
    qt_event_flush_or_drop_inlock(s->slot, "C_Logout");
    qt_slot_logout_inlock(s->slot);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_Logout(CK_SESSION_HANDLE hSession)
{
    QT_ENTRY("C_Logout", logout(hSession), "session=%lu", (unsigned long)hSession);
}

static CK_RV
session_cancel(CK_SESSION_HANDLE h, CK_FLAGS flags)
{
    static const struct {
        CK_FLAGS flag;
        enum qt_op_kind op;
    } map[] = {
        {CKF_ENCRYPT, QT_OP_ENCRYPT}, {CKF_DECRYPT, QT_OP_DECRYPT}, {CKF_DIGEST, QT_OP_DIGEST},
        {CKF_SIGN, QT_OP_SIGN},       {CKF_VERIFY, QT_OP_VERIFY},   {CKF_FIND_OBJECTS, QT_OP_FIND},
    };
    struct qt_session *s;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) == CKR_OK) {
        qt_session_ops_lock(s);
        for (size_t i = 0; i < QT_ARRAY_LEN(map); i++) {
            if (flags & map[i].flag) {
                qt_op_end(&s->ops[map[i].op]);
            }
        }
        qt_session_ops_unlock(s);
    }
    qt_unlock();
    return rv;
}

CK_RV
qt_C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
    QT_ENTRY("C_SessionCancel", session_cancel(hSession, flags), "session=%lu flags=0x%lx",
             (unsigned long)hSession, (unsigned long)flags);
}
