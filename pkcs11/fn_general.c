/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.4 "General-purpose functions" (C_GetInfo; C_Initialize and
 * C_Finalize are in module.c, the function-list calls in function_list.c),
 * 5.16 legacy parallel functions, and the stubs for what qtoken does not
 * implement: the 3.0 message-based functions.  A stub still honours the
 * initialisation/fork rule first, then says CKR_FUNCTION_NOT_SUPPORTED.
 */
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"

CK_RV
qt_C_GetInfo(CK_INFO_PTR pInfo)
{
    CK_RV rv;

    qt_trace("C_GetInfo");
    if ((rv = qt_module_check()) != CKR_OK) {
        goto out;
    }
    if (pInfo == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = 3;
    pInfo->cryptokiVersion.minor = 0;
    qt_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), QT_P11_MANUFACTURER);
    pInfo->flags = 0;
    qt_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
           "qtoken QRNG PKCS#11 module");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
out:
    qt_trace("C_GetInfo -> %s", qt_ckr_name(rv));
    return rv;
}

/* PKCS#11 3.0 5.16: legacy functions, always CKR_FUNCTION_NOT_PARALLEL */
CK_RV
qt_C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = qt_module_check();

    (void)hSession;
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
qt_C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    CK_RV rv = qt_module_check();

    (void)hSession;
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV
not_supported(const char *name)
{
    CK_RV rv = qt_module_check();

    if (rv == CKR_OK) {
        rv = CKR_FUNCTION_NOT_SUPPORTED;
    }
    qt_trace("%s -> %s", name, qt_ckr_name(rv));
    return rv;
}

CK_RV
qt_C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                             CK_ULONG_PTR pulOperationStateLen)
{
    (void)hSession;
    (void)pOperationState;
    (void)pulOperationStateLen;
    return not_supported("C_GetOperationState");
}

CK_RV
qt_C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                             CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                             CK_OBJECT_HANDLE hAuthenticationKey)
{
    (void)hSession;
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    return not_supported("C_SetOperationState");
}

CK_RV
qt_C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_SignRecoverInit");
}

CK_RV
qt_C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)hSession;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)pulSignatureLen;
    return not_supported("C_SignRecover");
}

CK_RV
qt_C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_VerifyRecoverInit");
}

CK_RV
qt_C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                         CK_ULONG ulSignatureLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    (void)hSession;
    (void)pSignature;
    (void)ulSignatureLen;
    (void)pData;
    (void)pulDataLen;
    return not_supported("C_VerifyRecover");
}

CK_RV
qt_C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                               CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    (void)hSession;
    (void)pPart;
    (void)ulPartLen;
    (void)pEncryptedPart;
    (void)pulEncryptedPartLen;
    return not_supported("C_DigestEncryptUpdate");
}

CK_RV
qt_C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                               CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                               CK_ULONG_PTR pulPartLen)
{
    (void)hSession;
    (void)pEncryptedPart;
    (void)ulEncryptedPartLen;
    (void)pPart;
    (void)pulPartLen;
    return not_supported("C_DecryptDigestUpdate");
}

CK_RV
qt_C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                             CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    (void)hSession;
    (void)pPart;
    (void)ulPartLen;
    (void)pEncryptedPart;
    (void)pulEncryptedPartLen;
    return not_supported("C_SignEncryptUpdate");
}

CK_RV
qt_C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                               CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                               CK_ULONG_PTR pulPartLen)
{
    (void)hSession;
    (void)pEncryptedPart;
    (void)ulEncryptedPartLen;
    (void)pPart;
    (void)pulPartLen;
    return not_supported("C_DecryptVerifyUpdate");
}

CK_RV
qt_C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_MessageEncryptInit");
}

CK_RV
qt_C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                          CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                          CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
                          CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
                          CK_ULONG_PTR pulCiphertextLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pAssociatedData;
    (void)ulAssociatedDataLen;
    (void)pPlaintext;
    (void)ulPlaintextLen;
    (void)pCiphertext;
    (void)pulCiphertextLen;
    return not_supported("C_EncryptMessage");
}

CK_RV
qt_C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                               CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                               CK_ULONG ulAssociatedDataLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pAssociatedData;
    (void)ulAssociatedDataLen;
    return not_supported("C_EncryptMessageBegin");
}

CK_RV
qt_C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                              CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
                              CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
                              CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pPlaintextPart;
    (void)ulPlaintextPartLen;
    (void)pCiphertextPart;
    (void)pulCiphertextPartLen;
    (void)flags;
    return not_supported("C_EncryptMessageNext");
}

CK_RV
qt_C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
    (void)hSession;
    return not_supported("C_MessageEncryptFinal");
}

CK_RV
qt_C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_MessageDecryptInit");
}

CK_RV
qt_C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                          CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                          CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
                          CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
                          CK_ULONG_PTR pulPlaintextLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pAssociatedData;
    (void)ulAssociatedDataLen;
    (void)pCiphertext;
    (void)ulCiphertextLen;
    (void)pPlaintext;
    (void)pulPlaintextLen;
    return not_supported("C_DecryptMessage");
}

CK_RV
qt_C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                               CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                               CK_ULONG ulAssociatedDataLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pAssociatedData;
    (void)ulAssociatedDataLen;
    return not_supported("C_DecryptMessageBegin");
}

CK_RV
qt_C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                              CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
                              CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
                              CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pCiphertextPart;
    (void)ulCiphertextPartLen;
    (void)pPlaintextPart;
    (void)pulPlaintextPartLen;
    (void)flags;
    return not_supported("C_DecryptMessageNext");
}

CK_RV
qt_C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
    (void)hSession;
    return not_supported("C_MessageDecryptFinal");
}

CK_RV
qt_C_MessageSignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_MessageSignInit");
}

CK_RV
qt_C_SignMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                       CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)pulSignatureLen;
    return not_supported("C_SignMessage");
}

CK_RV
qt_C_SignMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                            CK_ULONG ulParameterLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    return not_supported("C_SignMessageBegin");
}

CK_RV
qt_C_SignMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                           CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                           CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)pulSignatureLen;
    return not_supported("C_SignMessageNext");
}

CK_RV
qt_C_MessageSignFinal(CK_SESSION_HANDLE hSession)
{
    (void)hSession;
    return not_supported("C_MessageSignFinal");
}

CK_RV
qt_C_MessageVerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return not_supported("C_MessageVerifyInit");
}

CK_RV
qt_C_VerifyMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                         CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                         CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)ulSignatureLen;
    return not_supported("C_VerifyMessage");
}

CK_RV
qt_C_VerifyMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                              CK_ULONG ulParameterLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    return not_supported("C_VerifyMessageBegin");
}

CK_RV
qt_C_VerifyMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                             CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                             CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    (void)hSession;
    (void)pParameter;
    (void)ulParameterLen;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)ulSignatureLen;
    return not_supported("C_VerifyMessageNext");
}

CK_RV
qt_C_MessageVerifyFinal(CK_SESSION_HANDLE hSession)
{
    (void)hSession;
    return not_supported("C_MessageVerifyFinal");
}
