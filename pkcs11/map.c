/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small open-addressing hash map from 64-bit keys to pointers, used for
 * the session and object handle tables (a lookup among 10,000 objects stays
 * O(1)).  Key 0 marks an empty bucket, so 0 is never a valid key (PKCS#11
 * handle 0 is CK_INVALID_HANDLE anyway).  Deletion uses backward-shift so no
 * tombstones accumulate.  Not locked: used under the module lock.
 */
#include <stdlib.h>
#include <string.h>
#include "p11.h"

static size_t
slot_of(uint64_t key, size_t cap)
{
    /* splitmix64 finaliser: handles are sequential, spread them */
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void *
qt_map_get(const struct qt_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0) {
        return NULL;
    }
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            return m->vals[i];
        }
        if (m->keys[i] == 0) {
            return NULL;
        }
    }
}

static void
insert_nogrow(struct qt_map *m, uint64_t key, void *val)
{
    size_t i = slot_of(key, m->cap);

    while (m->keys[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & (m->cap - 1);
    }
    if (m->keys[i] == 0) {
        m->n++;
    }
    m->keys[i] = key;
    m->vals[i] = val;
}

CK_RV
qt_map_put(struct qt_map *m, uint64_t key, void *val)
{
    if (key == 0) {
        return CKR_GENERAL_ERROR;
    }
    if ((m->n + 1) * 4 >= m->cap * 3) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        uint64_t *keys = calloc(ncap, sizeof(*keys));
        void **vals = calloc(ncap, sizeof(*vals));
        struct qt_map old = *m;

        if (keys == NULL || vals == NULL) {
            free(keys);
            free(vals);
            return CKR_HOST_MEMORY;
        }
        m->keys = keys;
        m->vals = vals;
        m->cap = ncap;
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++) {
            if (old.keys[i] != 0) {
                insert_nogrow(m, old.keys[i], old.vals[i]);
            }
        }
        free(old.keys);
        free(old.vals);
    }
    insert_nogrow(m, key, val);
    return CKR_OK;
}

void
qt_map_del(struct qt_map *m, uint64_t key)
{
    size_t i, j;

    if (m->cap == 0 || key == 0) {
        return;
    }
    for (i = slot_of(key, m->cap); m->keys[i] != key; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == 0) {
            return;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
    /* backward shift: move later members of the cluster into the hole */
    for (j = (i + 1) & (m->cap - 1); m->keys[j] != 0; j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m->keys[j], m->cap);
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);

        if (movable) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            m->keys[j] = 0;
            m->vals[j] = NULL;
            i = j;
        }
    }
}

void
qt_map_clear(struct qt_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

void
qt_map_each(const struct qt_map *m, void (*fn)(void *val, void *ctx), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] != 0) {
            fn(m->vals[i], ctx);
        }
    }
}

CK_RV
qt_map_values(const struct qt_map *m, void ***out, size_t *n)
{
    void **v;
    size_t k = 0;

    *out = NULL;
    *n = 0;
    if (m->n == 0) {
        return CKR_OK;
    }
    if ((v = calloc(m->n, sizeof(*v))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] != 0) {
            v[k++] = m->vals[i];
        }
    }
    *out = v;
    *n = k;
    return CKR_OK;
}
