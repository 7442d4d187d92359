/* The campaign's wire format (rank 0 sends the checked campaign to the other ranks) and
 * equality, both walking the schema table (config_schema.h). */
#include "config_schema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- serialisation */

#define SER_MAGIC 0x43505355u /* "USPC" little-endian */
#define SER_VERSION 1u
#define SER_NULL 0xffffffffu

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} wbuf_t;

static void put(wbuf_t *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 512;
        while (w->len + n > cap)
            cap *= 2;
        unsigned char *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

/* Fixed-width little-endian, so the buffer means the same on every rank. */
static void put_u64(wbuf_t *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static void put_u32(wbuf_t *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}

static void put_str(wbuf_t *w, const char *s)
{
    if (!s) {
        put_u32(w, SER_NULL);
        return;
    }
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

int campaign_serialize(const campaign_t *c, unsigned char **buf, size_t *len, upset_err_t *err)
{
    wbuf_t w = {NULL, 0, 0, 0};
    put_u32(&w, SER_MAGIC);
    put_u32(&w, SER_VERSION);
    put_u32(&w, F_COUNT);
    for (int f = 0; f < F_COUNT; f++) {
        switch (campaign_fields[f].type) {
        case T_STR: put_str(&w, *CFIELD(c, f, char *)); break;
        case T_LIST: {
            const campaign_strlist_t *l = CFIELD(c, f, campaign_strlist_t);
            put_u32(&w, (uint32_t)l->n);
            for (int i = 0; i < l->n; i++)
                put_str(&w, l->v[i]);
            break;
        }
        case T_INT:
        case T_COUNT: put_u64(&w, (uint64_t)*CFIELD(c, f, int64_t)); break;
        case T_U64: put_u64(&w, *CFIELD(c, f, uint64_t)); break;
        case T_REAL: {
            uint64_t bits;
            memcpy(&bits, CFIELD(c, f, double), 8);
            put_u64(&w, bits);
            break;
        }
        case T_BOOL:
        case T_ENUM: put_u32(&w, (uint32_t)*CFIELD(c, f, int)); break;
        }
    }
    put_str(&w, c->source);
    put_u32(&w, (uint32_t)c->quiet);
    if (w.oom) {
        free(w.buf);
        return upset_fail(err, "out of memory serialising the campaign");
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf_t;

static uint64_t get_le(rbuf_t *r, int bytes)
{
    if (r->bad || r->len - r->at < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->at + i] << (8 * i);
    r->at += (size_t)bytes;
    return v;
}

/* A string or NULL; *ok = 0 on a short buffer or out of memory. */
static char *get_str(rbuf_t *r)
{
    uint32_t n = (uint32_t)get_le(r, 4);
    if (r->bad || n == SER_NULL)
        return NULL;
    if (r->len - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p + r->at, n);
    s[n] = '\0';
    r->at += n;
    return s;
}

static void get_field(rbuf_t *r, campaign_t *c, int f)
{
    switch (campaign_fields[f].type) {
    case T_STR: *FIELD(c, f, char *) = get_str(r); break;
    case T_LIST: {
        uint32_t n = (uint32_t)get_le(r, 4);
        if (r->bad || n > (r->len - r->at) / 4) {
            r->bad = 1;
            return;
        }
        campaign_strlist_t *l = FIELD(c, f, campaign_strlist_t);
        l->v = n ? calloc(n, sizeof(char *)) : NULL;
        if (n && !l->v) {
            r->bad = 1;
            return;
        }
        for (uint32_t i = 0; i < n && !r->bad; i++) {
            l->v[i] = get_str(r);
            l->n = (int)i + 1;
            if (!l->v[i])
                r->bad = 1;
        }
        break;
    }
    case T_INT:
    case T_COUNT: *FIELD(c, f, int64_t) = (int64_t)get_le(r, 8); break;
    case T_U64: *FIELD(c, f, uint64_t) = get_le(r, 8); break;
    case T_REAL: {
        uint64_t bits = get_le(r, 8);
        memcpy(FIELD(c, f, double), &bits, 8);
        break;
    }
    case T_BOOL: *FIELD(c, f, int) = (int)(int32_t)get_le(r, 4); break;
    case T_ENUM: {
        int v = (int)(int32_t)get_le(r, 4);
        if (v < -1 || v >= config_enum_count(campaign_fields[f].names))
            r->bad = 1;
        *FIELD(c, f, int) = v;
        break;
    }
    }
}

int campaign_deserialize(campaign_t *c, const unsigned char *buf, size_t len, upset_err_t *err)
{
    rbuf_t r = {buf, len, 0, 0};
    campaign_defaults(c);
    if (get_le(&r, 4) != SER_MAGIC || get_le(&r, 4) != SER_VERSION ||
        get_le(&r, 4) != F_COUNT)
        return upset_fail(err, "campaign buffer: not a serialised campaign of this version");
    for (int f = 0; f < F_COUNT && !r.bad; f++)
        get_field(&r, c, f);
    c->source = get_str(&r);
    c->quiet = (int)(int32_t)get_le(&r, 4);
    if (r.bad || r.at != len) {
        campaign_free(c);
        return upset_fail(err, "campaign buffer: truncated or corrupt (%zu bytes, read %zu)",
                          len, r.at);
    }
    return 0;
}

/* ---------------------------------------------------------------- equality */

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int campaign_equal(const campaign_t *a, const campaign_t *b)
{
    for (int f = 0; f < F_COUNT; f++) {
        int owner = campaign_sec_kind[campaign_fields[f].sec];
        if (owner >= 0 && owner != (int)a->kind)
            continue; /* F_KIND comes first: a->kind == b->kind here */
        int eq = 1;
        switch (campaign_fields[f].type) {
        case T_STR: eq = str_eq(*CFIELD(a, f, char *), *CFIELD(b, f, char *)); break;
        case T_LIST: {
            const campaign_strlist_t *la = CFIELD(a, f, campaign_strlist_t);
            const campaign_strlist_t *lb = CFIELD(b, f, campaign_strlist_t);
            eq = la->n == lb->n;
            for (int i = 0; eq && i < la->n; i++)
                eq = str_eq(la->v[i], lb->v[i]);
            break;
        }
        case T_INT:
        case T_COUNT: eq = *CFIELD(a, f, int64_t) == *CFIELD(b, f, int64_t); break;
        case T_U64: eq = *CFIELD(a, f, uint64_t) == *CFIELD(b, f, uint64_t); break;
        case T_REAL:
            eq = !memcmp(CFIELD(a, f, double), CFIELD(b, f, double), sizeof(double));
            break;
        case T_BOOL: eq = !*CFIELD(a, f, int) == !*CFIELD(b, f, int); break;
        case T_ENUM: eq = *CFIELD(a, f, int) == *CFIELD(b, f, int); break;
        }
        if (!eq)
            return 0;
    }
    return 1;
}
