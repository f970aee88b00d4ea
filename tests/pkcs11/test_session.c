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

/* ---- attestation records of login failures, locks and tampered objects ----
 * The token's log is read as a verifier would: exported by the built
 * `qtoken attest export` (found beside the module in the build tree), each
 * record's JWS payload decoded. */

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>

Test(session, wrong_pins_are_attested_with_user_and_lock)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    struct p11t_log log;
    CK_TOKEN_INFO ti;
    size_t base;

    p11t_read_log("test", &log);
    base = log.n;
    p11t_free_log(&log);
    /* a user failure, then a success: one record naming the user */
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"999999", 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    CK_OK(F->C_Logout(h));
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1);
    cr_assert_not_null(strstr(log.payload[base], "\"event\":\"login-failure\""),
                       "%s", log.payload[base]);
    cr_assert_not_null(strstr(log.payload[base], "\"user\":\"user\""), "%s", log.payload[base]);
    cr_assert_not_null(strstr(log.payload[base], "\"pin_failures\":1,\"pin_limit\":10"),
                       "%s", log.payload[base]);
    p11t_free_log(&log);

    /* the SO: ten wrong PINs, the tenth locks (pin-locked after its
     * login-failure), the eleventh is refused unchecked and unrecorded */
    for (int i = 1; i <= 10; i++) {
        CK_RV_EQ(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)"00000000", 8), CKR_PIN_INCORRECT);
    }
    CK_RV_EQ(F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8), CKR_PIN_LOCKED);
    CK_OK(F->C_GetTokenInfo(p11t_slot, &ti));
    cr_assert(ti.flags & CKF_SO_PIN_LOCKED);
    p11t_read_log("test", &log);
    cr_assert_eq(log.n, base + 1 + 11, "10 login-failure + 1 pin-locked");
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"login-failure\"", "\"user\":\"so\"", NULL), 10);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"login-failure\"", "\"user\":\"so\"",
                            "\"pin_failures\":7,"),
                 1);
    cr_assert_not_null(strstr(log.payload[log.n - 2], "\"event\":\"login-failure\""));
    cr_assert_not_null(strstr(log.payload[log.n - 2], "\"pin_failures\":10,"));
    cr_assert_not_null(strstr(log.payload[log.n - 1], "\"event\":\"pin-locked\""),
                       "%s", log.payload[log.n - 1]);
    cr_assert_not_null(strstr(log.payload[log.n - 1], "\"user\":\"so\""));
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"pin-locked\"", NULL, NULL), 1);
    p11t_free_log(&log);

    /* the user too; CKU_CONTEXT_SPECIFIC is not reachable without a key
     * needing it, so the plain login path locks it */
    for (int i = 0; i < 9; i++) {
        CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"999999", 6), CKR_PIN_INCORRECT);
    }
    p11t_read_log("test", &log);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"pin-locked\"", "\"user\":\"user\"", NULL), 0);
    p11t_free_log(&log);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"999999", 6), CKR_PIN_INCORRECT);
    CK_RV_EQ(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_PIN_LOCKED);
    p11t_read_log("test", &log);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"pin-locked\"", "\"user\":\"user\"",
                            "\"pin_failures\":10,"),
                 1);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"login-failure\"", "\"user\":\"user\"", NULL),
                 11);
    /* every record has a user now: none of the old user-less kind */
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"login-failure\"", NULL, NULL), 21);
    p11t_free_log(&log);
}

/* Flips CKA_EXTRACTABLE (false -> true) in the stored attribute list of the
 * token's only object, with the sqlite3 shell as an attacker would. */
static void
flip_extractable_on_disk(unsigned long long *id_out)
{
    char pat[160], cmd[512];
    static char row[65536], upd[70000];
    glob_t g;
    FILE *p;
    char *h, *sep;
    /* u64 type CKA_EXTRACTABLE (0x162), then u8 kind, u32 len 1, value 0 */
    const char *type = "0000000000000162";

    snprintf(pat, sizeof(pat), "%s/store/tok-*.db", p11t_dir);
    cr_assert_eq(glob(pat, 0, NULL, &g), 0);
    cr_assert_eq(g.gl_pathc, 1);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'SELECT id || \"|\" || hex(attrs) FROM objects'",
             g.gl_pathv[0]);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(row, sizeof(row), p));
    cr_assert_null(fgets(upd, sizeof(upd), p), "one object expected");
    cr_assert_eq(pclose(p), 0);
    row[strcspn(row, "\n")] = '\0';
    sep = strchr(row, '|');
    cr_assert_not_null(sep);
    *sep = '\0';
    *id_out = strtoull(row, NULL, 10);
    h = sep + 1;
    for (char *q = strstr(h, type);; q = strstr(q + 1, type)) {
        cr_assert_not_null(q, "CKA_EXTRACTABLE not found in %s", h);
        /* type at an even offset, then kind (2 hex), len 00000001, value 00 */
        if ((q - h) % 2 == 0 && strncmp(q + 18, "0000000100", 10) == 0) {
            q[27] = '1';
            break;
        }
    }
    snprintf(upd, sizeof(upd), "sqlite3 '%s' \"UPDATE objects SET attrs = X'%s' WHERE id = %llu\"",
             g.gl_pathv[0], h, *id_out);
    cr_assert_eq(system(upd), 0);
    globfree(&g);
}

Test(session, tampered_object_is_attested_once)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_OBJECT_HANDLE found[4];
    CK_ULONG n = 0;
    unsigned long long id = 0;
    char want[64];
    struct p11t_log log;

    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    /* a public (CKA_PRIVATE false) key: its policy attributes are stored
     * in the clear under a MAC, as an attacker could edit them */
    CK_ATTRIBUTE kt[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
    };
    CK_OBJECT_HANDLE k;

    CK_OK(F->C_GenerateKey(h, &m, kt, 4, &k));
    cr_assert_eq(p11t_count(h, tmpl, 1), 1);
    flip_extractable_on_disk(&id);
    cr_assert_gt(id, 0);
    /* the edited key is skipped by every search; one record names it */
    for (int round = 0; round < 3; round++) {
        CK_OK(F->C_FindObjectsInit(h, tmpl, 1));
        CK_OK(F->C_FindObjects(h, found, 4, &n));
        CK_OK(F->C_FindObjectsFinal(h));
        cr_assert_eq(n, 0);
    }
    p11t_read_log("test", &log);
    snprintf(want, sizeof(want), "\"object_id\":%llu", id);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"object-tamper\"", want, NULL), 1);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"object-tamper\"", NULL, NULL), 1);
    p11t_free_log(&log);
}

Test(session, key_record_says_public_when_cka_private_is_false)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 16;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE pub[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_LABEL, "pub-aes", 7},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_LABEL, "priv-aes", 8},
    };
    CK_OBJECT_HANDLE k1, k2, pk, sk;
    struct p11t_log log;

    CK_OK(F->C_GenerateKey(h, &m, pub, 4, &k1));
    CK_OK(F->C_GenerateKey(h, &m, priv, 3, &k2));
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 1, &pk, &sk);
    p11t_read_log("test", &log);
    cr_assert_eq(p11t_count_with(&log, "\"label\":\"pub-aes\"", "\"kind\":\"secret\"",
                            "\"public\":true"),
                 1);
    cr_assert_eq(p11t_count_with(&log, "\"label\":\"priv-aes\"", "\"kind\":\"secret\"",
                            "\"public\":false"),
                 1);
    cr_assert_eq(p11t_count_with(&log, "\"event\":\"keypair-generate\"", "\"kind\":\"pair\"",
                            "\"public\":false"),
                 1);
    p11t_free_log(&log);
}
