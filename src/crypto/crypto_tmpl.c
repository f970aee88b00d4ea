/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prepared operation contexts, kept on the key they were made for.
 *
 * Setting an OpenSSL operation up costs more than a short operation itself:
 * EVP_PKEY_CTX_new_from_pkey walks the library context's name map,
 * EVP_*_fetch looks the algorithm up by name, EVP_MAC_init and
 * EVP_CipherInit derive the HMAC pads and the AES key schedule.  So a key
 * keeps, per setup it has served (a 64-bit id that crypto_sign.c and
 * crypto_cipher.c derive from the mechanism and its parameters), one context
 * made and initialised once: the template.  An operation gets a duplicate
 * (EVP_PKEY_CTX_dup, EVP_MD_CTX_copy_ex, EVP_MAC_CTX_dup,
 * EVP_CIPHER_CTX_copy) and never touches the template otherwise; OpenSSL
 * only reads the source of a duplication, so threads duplicate one template
 * at the same time.  A template can also hold a few idle contexts that
 * operations handed back when they ended, for the caller to re-initialise
 * without any allocation (HMAC).
 *
 * Publication is lock-free: a new template is pushed on the key's list with
 * a compare-and-swap; of two threads making the same one at once, the one
 * that loses the race uses what it made for its own operation only.  Idle
 * contexts move with atomic exchanges, so each has one owner at any time.
 * Entries are never removed while the key lives; the key is freed only when
 * no operation uses it any more (pkcs11/key.c counts references), and then
 * frees every template and idle context with it.
 *
 * Secrets: templates and idle contexts hold what the key holds (references
 * to its EVP_PKEY, an HMAC key and its pads, an AES key schedule); they live
 * exactly as long as the key object and are wiped by OpenSSL's own frees
 * (EVP_MAC_CTX_free and EVP_CIPHER_CTX_free cleanse) when it goes.
 *
 * A key holds at most QT_CRYPTO_TMPL_MAX templates (RSA-PSS salt lengths
 * could otherwise make one per value); past that a setup is made for the
 * operation alone, as before templates existed.
 */
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto_int.h"

static void
ctx_free(enum qt_crypto_tmpl_kind kind, void *ctx)
{
    if (ctx == NULL) {
        return;
    }
    switch (kind) {
    case QT_CRYPTO_TMPL_PKEY:
        EVP_PKEY_CTX_free(ctx);
        break;
    case QT_CRYPTO_TMPL_MD:
        EVP_MD_CTX_free(ctx);
        break;
    case QT_CRYPTO_TMPL_MAC:
        EVP_MAC_CTX_free(ctx);
        break;
    case QT_CRYPTO_TMPL_CIPHER:
        EVP_CIPHER_CTX_free(ctx);
        break;
    }
}

/* A new context equal to the template's; NULL if OpenSSL cannot copy it. */
static void *
ctx_dup(enum qt_crypto_tmpl_kind kind, const void *src)
{
    EVP_CIPHER_CTX *c;
    EVP_MD_CTX *m;

    switch (kind) {
    case QT_CRYPTO_TMPL_PKEY:
        return EVP_PKEY_CTX_dup(src);
    case QT_CRYPTO_TMPL_MD:
        if ((m = EVP_MD_CTX_new()) != NULL && !EVP_MD_CTX_copy_ex(m, src)) {
            EVP_MD_CTX_free(m);
            m = NULL;
        }
        return m;
    case QT_CRYPTO_TMPL_MAC:
        return EVP_MAC_CTX_dup(src);
    case QT_CRYPTO_TMPL_CIPHER:
        if ((c = EVP_CIPHER_CTX_new()) != NULL && !EVP_CIPHER_CTX_copy(c, src)) {
            EVP_CIPHER_CTX_free(c);
            c = NULL;
        }
        return c;
    }
    return NULL;
}

static struct qt_crypto_tmpl *
find_from(struct qt_crypto_tmpl *t, uint64_t id, size_t *count)
{
    for (*count = 0; t != NULL; t = t->next) {
        if (t->id == id) {
            return t;
        }
        (*count)++;
    }
    return NULL;
}

struct qt_crypto_tmpl *
qt_crypto_tmpl_find(const struct qt_crypto_key *k, uint64_t id)
{
    size_t count;

    return find_from(__atomic_load_n(&k->tmpls, __ATOMIC_ACQUIRE), id, &count);
}

/* Publishes ctx as template id of k.  Returns the template of that id: the
 * new one, which then owns ctx, or one another thread published first
 * (ctx not taken); NULL (ctx not taken) if k holds QT_CRYPTO_TMPL_MAX
 * templates or memory is short. */
static struct qt_crypto_tmpl *
publish(const struct qt_crypto_key *k, uint64_t id, enum qt_crypto_tmpl_kind kind, void *ctx)
{
    /* the list is the key's one mutable part (crypto_int.h); k was
     * allocated writable by qt_crypto_key_alloc */
    struct qt_crypto_key *wk = (struct qt_crypto_key *)k;
    struct qt_crypto_tmpl *t, *head, *other;
    size_t count;

    if ((t = OPENSSL_zalloc(sizeof(*t))) == NULL) {
        return NULL;
    }
    t->id = id;
    t->kind = kind;
    t->ctx = ctx;
    head = __atomic_load_n(&wk->tmpls, __ATOMIC_ACQUIRE);
    do {
        if ((other = find_from(head, id, &count)) != NULL || count >= QT_CRYPTO_TMPL_MAX) {
            OPENSSL_free(t);
            return other;
        }
        t->next = head;
    } while (
        !__atomic_compare_exchange_n(&wk->tmpls, &head, t, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return t;
}

qt_rc
qt_crypto_tmpl_ctx(const struct qt_crypto_key *k, uint64_t id, enum qt_crypto_tmpl_kind kind,
                   qt_crypto_tmpl_make_fn make, const void *arg, void **ctx,
                   struct qt_crypto_tmpl **tmpl)
{
    struct qt_crypto_tmpl *t;
    void *made = NULL;
    qt_rc rc;

    *ctx = NULL;
    *tmpl = NULL;
    if ((t = qt_crypto_tmpl_find(k, id)) == NULL) {
        if ((rc = make(k, arg, &made)) != QT_OK) {
            ctx_free(kind, made);
            return rc;
        }
        t = publish(k, id, kind, made);
        *tmpl = t;
        if (t == NULL || t->ctx != made) {
            /* the key is full, or another thread was first: what was made
             * serves this operation alone */
            *ctx = made;
            return QT_OK;
        }
    }
    *tmpl = t;
    if ((*ctx = ctx_dup(kind, t->ctx)) != NULL) {
        return QT_OK;
    }
    /* OpenSSL could not copy it (a provider without dupctx): set up anew */
    if ((rc = make(k, arg, ctx)) != QT_OK) {
        ctx_free(kind, *ctx);
        *ctx = NULL;
    }
    return rc;
}

void *
qt_crypto_tmpl_take_idle(struct qt_crypto_tmpl *t)
{
    void *ctx;

    if (t == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < QT_CRYPTO_TMPL_IDLE; i++) {
        if (__atomic_load_n(&t->idle[i], __ATOMIC_RELAXED) != NULL &&
            (ctx = __atomic_exchange_n(&t->idle[i], NULL, __ATOMIC_ACQ_REL)) != NULL) {
            return ctx;
        }
    }
    return NULL;
}

int
qt_crypto_tmpl_give_idle(struct qt_crypto_tmpl *t, void *ctx)
{
    for (size_t i = 0; t != NULL && ctx != NULL && i < QT_CRYPTO_TMPL_IDLE; i++) {
        void *expect = NULL;

        if (__atomic_compare_exchange_n(&t->idle[i], &expect, ctx, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            return 1;
        }
    }
    return 0;
}

void
qt_crypto_tmpl_free_all(struct qt_crypto_key *k)
{
    struct qt_crypto_tmpl *t = k->tmpls, *next;

    k->tmpls = NULL;
    for (; t != NULL; t = next) {
        next = t->next;
        for (size_t i = 0; i < QT_CRYPTO_TMPL_IDLE; i++) {
            ctx_free(t->kind, t->idle[i]);
        }
        ctx_free(t->kind, t->ctx);
        OPENSSL_clear_free(t, sizeof(*t));
    }
}
