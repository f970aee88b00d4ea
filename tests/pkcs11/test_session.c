/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, session management and the login state machine
 * (PKCS#11 3.0 5.6 and 4.x session states): every transition and every
 * error code of C_OpenSession, C_CloseSession, C_CloseAllSessions,
 * C_GetSessionInfo, C_Login, C_Logout, C_SessionCancel.
 */
#include <dlfcn.h>
#include <string.h>
#include "../../pkcs11/pkcs11-3.h"
#include "p11test.h"

TestSuite(session, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 60);

static CK_STATE
state(CK_SESSION_HANDLE h)
{
    CK_SESSION_INFO si;

    CK_OK(F->C_GetSessionInfo(h, &si));
    return si.state;
}

Test(session, open_close_errors)
{
    CK_SESSION_HANDLE h, h2;
    CK_SESSION_INFO si;

    CK_RV_EQ(F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_OpenSession(p11t_slot, 0, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    CK_RV_EQ(F->C_OpenSession(99, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID);
    h = p11t_open(p11t_slot, 0);
    h2 = p11t_open(p11t_slot, 1);
    cr_assert_neq(h, h2);
    CK_RV_EQ(F->C_GetSessionInfo(h, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_GetSessionInfo(h2, &si));
    cr_assert_eq(si.slotID, p11t_slot);
    cr_assert_eq(si.flags, CKF_SERIAL_SESSION | CKF_RW_SESSION);
    cr_assert_eq(si.ulDeviceError, 0);
    CK_OK(F->C_CloseSession(h));
    CK_RV_EQ(F->C_CloseSession(h), CKR_SESSION_HANDLE_INVALID);
    CK_RV_EQ(F->C_GetSessionInfo(h, &si), CKR_SESSION_HANDLE_INVALID);
    CK_RV_EQ(F->C_CloseSession(CK_INVALID_HANDLE), CKR_SESSION_HANDLE_INVALID);
    CK_RV_EQ(F->C_CloseAllSessions(99), CKR_SLOT_ID_INVALID);
    CK_OK(F->C_CloseAllSessions(p11t_slot));
    CK_RV_EQ(F->C_GetSessionInfo(h2, &si), CKR_SESSION_HANDLE_INVALID);
    /* handles are not reused */
    h = p11t_open(p11t_slot, 0);
    cr_assert_neq(h, h2);
}

Test(session, state_machine_user)
{
    CK_SESSION_HANDLE ro = p11t_open(p11t_slot, 0), rw = p11t_open(p11t_slot, 1);

    cr_assert_eq(state(ro), CKS_RO_PUBLIC_SESSION);
    cr_assert_eq(state(rw), CKS_RW_PUBLIC_SESSION);
    CK_OK(F->C_Login(ro, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    /* the login is per token: every session of the application sees it */
    cr_assert_eq(state(ro), CKS_RO_USER_FUNCTIONS);
    cr_assert_eq(state(rw), CKS_RW_USER_FUNCTIONS);
    CK_RV_EQ(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_USER_ALREADY_LOGGED_IN);
    CK_RV_EQ(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    /* a session opened while logged in starts in the user state */
    {
        CK_SESSION_HANDLE r2 = p11t_open(p11t_slot, 0);

        cr_assert_eq(state(r2), CKS_RO_USER_FUNCTIONS);
    }
    CK_OK(F->C_Logout(rw));
    cr_assert_eq(state(ro), CKS_RO_PUBLIC_SESSION);
    CK_RV_EQ(F->C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
}

Test(session, state_machine_so)
{
    CK_SESSION_HANDLE ro = p11t_open(p11t_slot, 0), rw = p11t_open(p11t_slot, 1), h;

    CK_RV_EQ(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8), CKR_SESSION_READ_ONLY_EXISTS);
    CK_OK(F->C_CloseSession(ro));
    CK_OK(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    cr_assert_eq(state(rw), CKS_RW_SO_FUNCTIONS);
    CK_RV_EQ(F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION, NULL, NULL, &h),
             CKR_SESSION_READ_WRITE_SO_EXISTS);
    h = p11t_open(p11t_slot, 1);
    cr_assert_eq(state(h), CKS_RW_SO_FUNCTIONS);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6),
             CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    CK_RV_EQ(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8), CKR_USER_ALREADY_LOGGED_IN);
    CK_OK(F->C_Logout(h));
    cr_assert_eq(state(rw), CKS_RW_PUBLIC_SESSION);
}

Test(session, login_errors)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);

    CK_RV_EQ(F->C_Login(h, 7, (CK_UTF8CHAR *)USER_PIN, 6), CKR_USER_TYPE_INVALID);
    CK_RV_EQ(F->C_Login(h, CKU_USER, NULL, 6), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"wrong!", 6), CKR_PIN_INCORRECT);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"", 0), CKR_PIN_INCORRECT);
    CK_RV_EQ(F->C_Login(h + 1000, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6),
             CKR_SESSION_HANDLE_INVALID);
    CK_RV_EQ(F->C_Login(h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)USER_PIN, 6),
             CKR_OPERATION_NOT_INITIALIZED);
    CK_RV_EQ(F->C_Logout(h), CKR_USER_NOT_LOGGED_IN);
    CK_RV_EQ(F->C_Logout(h + 1000), CKR_SESSION_HANDLE_INVALID);
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
}

Test(session, user_pin_not_initialised)
{
    CK_SLOT_ID other;
    CK_UTF8CHAR label[32];
    CK_SESSION_HANDLE h;

    other = p11t_empty_slot();
    memset(label, ' ', sizeof(label));
    memcpy(label, "nopin", 5);
    CK_OK(F->C_InitToken(other, (CK_UTF8CHAR *)SO_PIN, 8, label));
    h = p11t_open(other, 1);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_USER_PIN_NOT_INITIALIZED);
    CK_RV_EQ(F->C_SetPIN(h, (CK_UTF8CHAR *)USER_PIN, 6, (CK_UTF8CHAR *)"999999", 6),
             CKR_USER_PIN_NOT_INITIALIZED);
}

Test(session, last_close_logs_out_and_drops_private_objects)
{
    CK_SESSION_HANDLE a = p11t_open(p11t_slot, 1), b;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE priv[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_PRIVATE, &yes, 1}};
    CK_ATTRIBUTE pub[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_PRIVATE, &no, 1}};
    CK_OBJECT_HANDLE po, so, tok;
    CK_ATTRIBUTE privtok[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_PRIVATE, &yes, 1},
                              {CKA_TOKEN, &yes, 1}};
    unsigned char buf[8];

    CK_OK(F->C_Login(a, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    b = p11t_open(p11t_slot, 1);
    CK_OK(F->C_CreateObject(b, priv, 2, &po));
    CK_OK(F->C_CreateObject(b, pub, 2, &so));
    CK_OK(F->C_CreateObject(b, privtok, 3, &tok));
    /* logout: private objects (session and token) become invisible, the
     * private session object is destroyed, the public one stays */
    CK_OK(F->C_Logout(a));
    {
        CK_ATTRIBUTE t = {CKA_CLASS, buf, sizeof(buf)};

        CK_RV_EQ(F->C_GetAttributeValue(b, tok, &t, 1), CKR_OBJECT_HANDLE_INVALID);
        CK_RV_EQ(F->C_GetAttributeValue(b, po, &t, 1), CKR_OBJECT_HANDLE_INVALID);
        CK_OK(F->C_GetAttributeValue(b, so, &t, 1));
    }
    CK_OK(F->C_Login(a, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    {
        CK_ATTRIBUTE privsess[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_PRIVATE, &yes, 1},
                                   {CKA_TOKEN, &no, 1}};

        cr_assert_eq(p11t_count(b, privsess, 3), 0, "the private session object was destroyed");
    }
    cr_assert_eq(p11t_count(b, privtok, 3), 1, "the private token object is back");
    /* closing every session logs the token out */
    CK_OK(F->C_CloseSession(a));
    cr_assert_eq(state(b), CKS_RW_USER_FUNCTIONS);
    CK_OK(F->C_CloseSession(b));
    a = p11t_open(p11t_slot, 0);
    cr_assert_eq(state(a), CKS_RO_PUBLIC_SESSION);
    cr_assert_eq(p11t_count(a, pub, 2), 0, "session objects die with their session");
}

Test(session, session_cancel_and_state_functions)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 0);
    CK_OBJECT_HANDLE o[4];
    CK_ULONG n;

    CK_OK(F->C_FindObjectsInit(h, NULL, 0));
    CK_RV_EQ(F->C_FindObjectsInit(h, NULL, 0), CKR_OPERATION_ACTIVE);
    {
        CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
        CK_INTERFACE *itf;
        CK_FUNCTION_LIST_3_0 *f3;

        *(void **)&get = dlsym(p11t_handle(), "C_GetInterface");
        CK_OK(get(NULL, NULL, &itf, 0));
        f3 = itf->pFunctionList;
        CK_OK(f3->C_SessionCancel(h, 0x40 /* CKF_FIND_OBJECTS */));
    }
    CK_RV_EQ(F->C_FindObjects(h, o, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    CK_RV_EQ(F->C_FindObjectsFinal(h), CKR_OPERATION_NOT_INITIALIZED);
    CK_RV_EQ(F->C_GetOperationState(h, NULL, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(F->C_SetOperationState(h, (CK_BYTE *)"x", 1, 0, 0), CKR_FUNCTION_NOT_SUPPORTED);
}

/* Handles met first through C_FindObjects (after a restart) are classified
 * private or public correctly: the private one dies at logout. */
Test(session, found_private_handles_die_at_logout)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE priv[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1}, {CKA_LABEL, "p", 1}};
    CK_ATTRIBUTE pub[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
                          {CKA_PRIVATE, &no, 1}, {CKA_LABEL, "q", 1}};
    CK_ATTRIBUTE all = {CKA_CLASS, &cls, sizeof(cls)};
    CK_OBJECT_HANDLE o[8], tmp;
    CK_ULONG n = 0;
    unsigned char buf[4];
    CK_ATTRIBUTE lbl = {CKA_LABEL, buf, sizeof(buf)};
    int privs = 0, pubs = 0;

    CK_OK(F->C_CreateObject(h, priv, 4, &tmp));
    CK_OK(F->C_CreateObject(h, pub, 4, &tmp));
    CK_OK(F->C_Finalize(NULL));
    CK_OK(F->C_Initialize(NULL));
    h = p11t_user_session();
    CK_OK(F->C_FindObjectsInit(h, &all, 1));
    CK_OK(F->C_FindObjects(h, o, 8, &n));
    CK_OK(F->C_FindObjectsFinal(h));
    cr_assert_eq(n, 2);
    CK_OK(F->C_Logout(h));
    for (CK_ULONG i = 0; i < n; i++) {
        lbl.ulValueLen = sizeof(buf);
        if (F->C_GetAttributeValue(h, o[i], &lbl, 1) == CKR_OK) {
            pubs++;
            cr_assert_eq(buf[0], 'q');
        } else {
            privs++;
        }
    }
    cr_assert_eq(pubs, 1);
    cr_assert_eq(privs, 1);
}
