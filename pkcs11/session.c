/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions: the handle table, opening and closing, the session state of
 * PKCS#11 3.0 5.6 (RO/RW x public/user/SO, derived from the slot's login and
 * the session's flags), and the per-session operation slots (find, encrypt,
 * decrypt, digest, sign, verify), each with its own stage so that mixing
 * single- and multi-part calls can be refused.  Handles are never reused
 * while the module is initialised.
 */
#include <sched.h>
#include <stdlib.h>
#include "p11.h"

CK_RV
qt_session_get_inlock(CK_SESSION_HANDLE h, struct qt_session **out)
{
    struct qt_session *s = qt_map_get(&qt_mod->sessions, (uint64_t)h);

    if (s == NULL) {
        return CKR_SESSION_HANDLE_INVALID;
    }
    *out = s;
    return CKR_OK;
}

CK_RV
qt_session_open_inlock(struct qt_slot *slot, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
    struct qt_session *s;
    CK_RV rv;

    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    /* the application's mutex when it gave C_Initialize its callbacks */
    if ((rv = qt_mutex_init(&s->busy, &qt_mod->mutex_ops)) != CKR_OK) {
        free(s);
        return rv;
    }
    s->handle = qt_mod->next_session++;
    s->slot = slot;
    s->flags = flags;
    if ((rv = qt_map_put(&qt_mod->sessions, (uint64_t)s->handle, s)) != CKR_OK) {
        qt_mutex_clear(&s->busy);
        free(s);
        return rv;
    }
    slot->sessions++;
    if (flags & CKF_RW_SESSION) {
        slot->rw_sessions++;
    }
    *out = s->handle;
    return CKR_OK;
}

void
qt_session_ops_lock(struct qt_session *s)
{
    /* Only an application LockMutex can fail (qt_mutex_lock logs it); a
     * correct one does not.  There is no error path for the callers, and
     * going on unlocked would let two threads share s->ops: wait for it. */
    while (qt_mutex_lock(&s->busy) != CKR_OK) {
        sched_yield();
    }
}

void
qt_session_ops_unlock(struct qt_session *s)
{
    qt_mutex_unlock(&s->busy);
}

/* Ends every operation and frees s; the module mutex is held, so no other
 * thread can reach s any more once its in-flight call (if any) is done. */
static void
session_release(struct qt_session *s)
{
    qt_session_ops_lock(s);
    for (int k = 0; k < QT_OP__COUNT; k++) {
        qt_op_end(&s->ops[k]);
    }
    qt_session_ops_unlock(s);
    qt_mutex_clear(&s->busy);
    free(s);
}

void
qt_op_end(struct qt_op *op)
{
    if (op->ctx != NULL && op->free_ctx != NULL) {
        op->free_ctx(op->ctx);
    }
    op->ctx = NULL;
    op->free_ctx = NULL;
    op->stage = QT_STAGE_NONE;
    op->mech = 0;
    op->key = CK_INVALID_HANDLE;
    op->auth_needed = 0;
    op->authed = 0;
}

CK_RV
qt_op_begin(struct qt_session *s, enum qt_op_kind k, struct qt_op **out)
{
    struct qt_op *op = &s->ops[k];

    if (op->stage != QT_STAGE_NONE) {
        return CKR_OPERATION_ACTIVE;
    }
    *out = op;
    return CKR_OK;
}

void
qt_session_close_inlock(struct qt_session *s)
{
    struct qt_slot *slot = s->slot;
    CK_SESSION_HANDLE h = s->handle;
    int rw = (s->flags & CKF_RW_SESSION) != 0;

    qt_map_del(&qt_mod->sessions, (uint64_t)h);
    session_release(s);
    qt_object_drop_session_inlock(slot, h, 0);
    slot->sessions--;
    if (rw) {
        slot->rw_sessions--;
    }
    if (slot->sessions == 0) {
        /* PKCS#11 3.0 5.6: closing the last session logs the token out */
        qt_slot_logout_inlock(slot);
    }
}

CK_STATE
qt_session_state(const struct qt_session *s)
{
    int rw = (s->flags & CKF_RW_SESSION) != 0;

    switch (s->slot->login) {
    case CKU_SO:
        return CKS_RW_SO_FUNCTIONS;
    case CKU_USER:
        return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    default:
        return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
    }
}

static void
session_free(void *val, void *ctx)
{
    (void)ctx;
    session_release(val);
}

void
qt_sessions_free_inlock(void)
{
    qt_map_each(&qt_mod->sessions, session_free, NULL);
    qt_map_clear(&qt_mod->sessions);
}
