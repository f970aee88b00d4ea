/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.5 "Slot and token management functions": slot and token
 * information, the mechanism list, C_InitToken (new token in the empty
 * slot, or re-initialisation of an existing one), C_InitPIN, C_SetPIN and
 * C_WaitForSlotEvent (no events: tokens are files, never removed).
 */
#include <stdio.h>
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"

static CK_RV
check_pin_len(CK_ULONG len)
{
    return (len < QT_P11_MIN_PIN || len > QT_P11_MAX_PIN) ? CKR_PIN_LEN_RANGE : CKR_OK;
}

static CK_RV
get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    CK_RV rv;

    (void)present; /* every slot holds a token (the empty slot an uninitialised one) */
    if (count == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if (list == NULL) {
        /* the size query is where tokens made by other processes appear;
         * the list then stays the same for the call that fetches it */
        if ((rv = qt_slots_rescan_inlock()) != CKR_OK) {
            goto out;
        }
        *count = (CK_ULONG)qt_mod->nslots;
        goto out;
    }
    if (*count < qt_mod->nslots) {
        *count = (CK_ULONG)qt_mod->nslots;
        rv = CKR_BUFFER_TOO_SMALL;
        goto out;
    }
    for (size_t i = 0; i < qt_mod->nslots; i++) {
        list[i] = qt_mod->slots[i]->id;
    }
    *count = (CK_ULONG)qt_mod->nslots;
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    QT_ENTRY("C_GetSlotList", get_slot_list(tokenPresent, pSlotList, pulCount),
             "present=%u list=%p", (unsigned)tokenPresent, (void *)pSlotList);
}

static CK_RV
get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
    struct qt_slot *s;
    char desc[64];
    CK_RV rv;

    if (info == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &s)) != CKR_OK) {
        goto out;
    }
    memset(info, 0, sizeof(*info));
    snprintf(desc, sizeof(desc), "qtoken slot %lu%s", (unsigned long)id,
             s->tok == NULL ? " (new token)" : "");
    qt_pad(info->slotDescription, sizeof(info->slotDescription), desc);
    qt_pad(info->manufacturerID, sizeof(info->manufacturerID), QT_P11_MANUFACTURER);
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion.major = 0;
    info->hardwareVersion.minor = 1;
    info->firmwareVersion.major = 0;
    info->firmwareVersion.minor = 1;
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    QT_ENTRY("C_GetSlotInfo", get_slot_info(slotID, pInfo), "slot=%lu", (unsigned long)slotID);
}

static CK_RV
get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
    struct qt_slot *s;
    CK_RV rv;

    if (info == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &s)) == CKR_OK) {
        rv = qt_slot_token_info_inlock(s, info);
    }
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    QT_ENTRY("C_GetTokenInfo", get_token_info(slotID, pInfo), "slot=%lu", (unsigned long)slotID);
}

static CK_RV
get_mech_list(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    const struct qt_mech_info *t;
    struct qt_slot *s;
    size_t n;
    CK_RV rv;

    if (count == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &s)) != CKR_OK) {
        goto out;
    }
    t = qt_mech_table(&n);
    if (list == NULL) {
        *count = (CK_ULONG)n;
        goto out;
    }
    if (*count < n) {
        *count = (CK_ULONG)n;
        rv = CKR_BUFFER_TOO_SMALL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        list[i] = t[i].type;
    }
    *count = (CK_ULONG)n;
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                      CK_ULONG_PTR pulCount)
{
    QT_ENTRY("C_GetMechanismList", get_mech_list(slotID, pMechanismList, pulCount), "slot=%lu",
             (unsigned long)slotID);
}

static CK_RV
get_mech_info(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
    const struct qt_mech_info *m;
    struct qt_slot *s;
    CK_RV rv;

    if (info == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &s)) != CKR_OK) {
        goto out;
    }
    if ((m = qt_mech_find(type)) == NULL) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    /* every field written */
    info->ulMinKeySize = m->min_size;
    info->ulMaxKeySize = m->max_size;
    info->flags = m->flags;
    if (qt_mech_key_type(type) == CKK_RSA && qt_mod->conf.min_rsa_bits > info->ulMinKeySize) {
        info->ulMinKeySize = qt_mod->conf.min_rsa_bits; /* the token's policy */
    }
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    QT_ENTRY("C_GetMechanismInfo", get_mech_info(slotID, type, pInfo), "slot=%lu mech=0x%lx",
             (unsigned long)slotID, (unsigned long)type);
}

/* The label: 32 bytes, blank padded; trailing blanks (and NULs) dropped. */
static void
label_of(const CK_UTF8CHAR *p, char out[33])
{
    size_t n = 32;

    memcpy(out, p, 32);
    out[32] = '\0';
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\0')) {
        out[--n] = '\0';
    }
}

static CK_RV
record_event_txn(struct qt_slot *s, enum qt_event ev)
{
    qt_rc rc;

    if ((rc = qt_ks_txn_begin(s->tok)) != QT_OK) {
        return qt_rv(rc);
    }
    if ((rc = qt_event_record(s, ev, CK_UNAVAILABLE_INFORMATION, NULL)) != QT_OK) {
        qt_ks_txn_rollback(s->tok);
        return qt_rv(rc);
    }
    return qt_rv(qt_ks_txn_commit(s->tok));
}

/* C_InitToken refused a label another token of the store has: PKCS#11 has
 * no return code for it (CKR_FUNCTION_FAILED), so say why.  Labels name
 * tokens (p11-kit URIs, Vault's token_label), hence unique per store. */
static void
label_taken(qt_rc rc, const char *lbl)
{
    if (rc == QT_E_EXISTS) {
        qt_log(QT_LOG_WARN,
               "pkcs11: C_InitToken: another token in the store is labelled '%s'; "
               "token labels must be unique",
               lbl);
    }
}

static CK_RV
init_token(CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
    struct qt_ks_kdf_params kdf;
    struct qt_ks_token *tok = NULL;
    struct qt_slot *s;
    char lbl[33];
    CK_RV rv;
    qt_rc rc;

    if (pin == NULL || label == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if ((rv = check_pin_len(pin_len)) != CKR_OK) {
        return rv;
    }
    label_of(label, lbl);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_slot_get_inlock(id, &s)) != CKR_OK) {
        goto out;
    }
    if (s->sessions > 0) {
        rv = CKR_SESSION_EXISTS;
        goto out;
    }
    if (s->tok != NULL) {
        /* re-initialisation: the SO PIN is checked by the keystore */
        if ((rc = qt_ks_token_reinit(s->tok, pin, (size_t)pin_len, lbl)) != QT_OK) {
            label_taken(rc, lbl);
            rv = qt_rv(rc);
            goto out;
        }
        qt_object_forget_private_inlock(s);
        qt_object_uncache_token_inlock(s); /* its public objects are gone too */
        s->login = QT_NOT_LOGGED_IN;
        rv = record_event_txn(s, QT_EVENT_TOKEN_INIT);
        goto out;
    }
    kdf.memory_kib = qt_mod->conf.argon2_memory_kib;
    kdf.passes = qt_mod->conf.argon2_passes;
    kdf.lanes = qt_mod->conf.argon2_lanes;
    if ((rc = qt_ks_token_create(&qt_mod->ksenv, lbl, pin, (size_t)pin_len, &kdf, &tok)) !=
        QT_OK) {
        label_taken(rc, lbl);
        rv = qt_rv(rc);
        goto out;
    }
    /* the empty slot now holds the token; a new empty slot follows */
    s->tok = tok;
    snprintf(s->path, sizeof(s->path), "%s", qt_ks_token_path(tok));
    tok = NULL;
    if ((rv = record_event_txn(s, QT_EVENT_TOKEN_INIT)) != CKR_OK) {
        goto out;
    }
    rv = qt_slots_load_empty_inlock();
out:
    qt_ks_token_close(tok);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
    QT_ENTRY("C_InitToken", init_token(slotID, pPin, ulPinLen, pLabel), "slot=%lu",
             (unsigned long)slotID);
}

static CK_RV
init_pin(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    struct qt_session *s;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (qt_session_state(s) != CKS_RW_SO_FUNCTIONS) {
        rv = CKR_USER_NOT_LOGGED_IN;
        goto out;
    }
    if (pin == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = check_pin_len(len)) != CKR_OK) {
        goto out;
    }
    if ((rc = qt_ks_init_pin(s->slot->tok, pin, (size_t)len)) != QT_OK) {
        rv = qt_rv(rc);
        goto out;
    }
    rv = record_event_txn(s->slot, QT_EVENT_PIN_INIT);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    QT_ENTRY("C_InitPIN", init_pin(hSession, pPin, ulPinLen), "session=%lu",
             (unsigned long)hSession);
}

static CK_RV
set_pin(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG old_len, CK_UTF8CHAR_PTR pin,
        CK_ULONG len)
{
    struct qt_ks_token_info ti;
    struct qt_session *s;
    enum qt_ks_user who;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (old == NULL || pin == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (!(s->flags & CKF_RW_SESSION)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    if ((rv = check_pin_len(len)) != CKR_OK) {
        goto out;
    }
    /* PKCS#11 3.0 5.6 C_SetPIN: the SO's PIN in an SO session, else the user's */
    who = s->slot->login == CKU_SO ? QT_KS_SO : QT_KS_USER;
    if (who == QT_KS_USER) {
        if ((rc = qt_ks_token_info(s->slot->tok, &ti)) != QT_OK) {
            rv = qt_rv(rc);
            goto out;
        }
        if (!ti.user_pin_initialized) {
            rv = CKR_USER_PIN_NOT_INITIALIZED;
            goto out;
        }
    }
    if (old_len == 0 || old_len > QT_P11_MAX_PIN) {
        rv = CKR_PIN_INCORRECT;
        goto out;
    }
    rc = qt_ks_set_pin(s->slot->tok, who, old, (size_t)old_len, pin, (size_t)len);
    if (rc != QT_OK) {
        rv = qt_rv(rc);
        goto out;
    }
    rv = record_event_txn(s->slot, QT_EVENT_PIN_CHANGE);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
            CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    QT_ENTRY("C_SetPIN", set_pin(hSession, pOldPin, ulOldLen, pNewPin, ulNewLen), "session=%lu",
             (unsigned long)hSession);
}

/* PKCS#11 3.0 5.5 C_WaitForSlotEvent: tokens are never inserted or removed.
 * Non-blocking: CKR_NO_EVENT.  Blocking would wait forever: not supported. */
CK_RV
qt_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    CK_RV rv;

    qt_trace("C_WaitForSlotEvent flags=0x%lx", (unsigned long)flags);
    if ((rv = qt_module_check()) != CKR_OK) {
        goto out;
    }
    if (pSlot == NULL || pReserved != NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
out:
    qt_trace("C_WaitForSlotEvent -> %s", qt_ckr_name(rv));
    return rv;
}
