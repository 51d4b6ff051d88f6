/*
 * FIX data dictionary, the straight path in C.
 *
 * The dictionary itself is compiled in Python (protocols/fixdict.py), which
 * also owns the exact rejection rules.  What comes here is the common case
 * only: for each message type, where each tag may stand (header, body,
 * trailer), which tags are required and which open a repeating group; for
 * each field its value format and enumerated values.  gw_fix_dict_check
 * then says, for messages gw_fix_scan has indexed, "plainly valid" -- no
 * group present, sections in order, no repeated tag, every value in format
 * and among the listed values, nothing required missing -- or "look closer",
 * in which case the Python checks decide (and name the reason).  The C side
 * must never pass what Python would reject; when unsure it says "look
 * closer" (tags beyond GW_FIX_DICT_MAX_TAG, for instance).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw/gw.h"

#define MAX_TYPES 128
#define NOT_HERE 0xFF

struct dict_field {
    uint8_t kind;        /* GW_FIX_T_* */
    uint8_t multi;       /* enumerated values are space-separated lists */
    uint32_t enum_off;   /* into the pool: values, each ended by SOH */
    uint32_t enum_len;   /* 0: any value of the kind */
};

struct dict_msg {
    char type[8];
    uint8_t type_len;
    uint8_t where[GW_FIX_DICT_MAX_TAG];  /* GW_FIX_W_* | flags, NOT_HERE */
    uint32_t nreq;
    int32_t *required;
};

struct gw_fix_dict {
    struct dict_field fields[GW_FIX_DICT_MAX_TAG];
    char *pool;
    uint32_t pool_len, pool_cap;
    struct dict_msg *msgs[MAX_TYPES];
    uint32_t nmsgs;
    uint32_t gen;                          /* stamps for "seen in this message" */
    uint32_t seen[GW_FIX_DICT_MAX_TAG];
};

int gw_fix_dict_open(struct gw_fix_dict **out)
{
    struct gw_fix_dict *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    *out = d;
    return 0;
}

void gw_fix_dict_close(struct gw_fix_dict *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->nmsgs; i++) {
        free(d->msgs[i]->required);
        free(d->msgs[i]);
    }
    free(d->pool);
    free(d);
}

int gw_fix_dict_field(struct gw_fix_dict *d, int32_t tag, int kind, const char *enums,
                      uint32_t enums_len, int multi)
{
    if (tag <= 0 || tag >= GW_FIX_DICT_MAX_TAG || kind < 0 || kind > GW_FIX_T_BOOLEAN)
        return -EINVAL;
    struct dict_field *f = &d->fields[tag];
    f->kind = (uint8_t)kind;
    f->multi = (uint8_t)(multi != 0);
    f->enum_len = 0;
    if (enums_len) {
        if (d->pool_len + enums_len > d->pool_cap) {
            uint32_t cap = (d->pool_cap ? d->pool_cap * 2 : 4096) + enums_len;
            char *p = realloc(d->pool, cap);
            if (!p)
                return -ENOMEM;
            d->pool = p;
            d->pool_cap = cap;
        }
        memcpy(d->pool + d->pool_len, enums, enums_len);
        f->enum_off = d->pool_len;
        f->enum_len = enums_len;
        d->pool_len += enums_len;
    }
    return 0;
}

int gw_fix_dict_message(struct gw_fix_dict *d, const char *msg_type, const int32_t *tags,
                        const uint8_t *where, uint32_t n)
{
    size_t tl = strlen(msg_type);
    if (d->nmsgs == MAX_TYPES || tl == 0 || tl >= sizeof(((struct dict_msg *)0)->type))
        return -EINVAL;
    struct dict_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    memcpy(m->type, msg_type, tl);
    m->type_len = (uint8_t)tl;
    memset(m->where, NOT_HERE, sizeof(m->where));
    m->required = calloc(n ? n : 1, sizeof(int32_t));
    if (!m->required) {
        free(m);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (tags[i] <= 0 || tags[i] >= GW_FIX_DICT_MAX_TAG)
            continue; /* never "here": such a message is looked at closer */
        m->where[tags[i]] = where[i];
        if (where[i] & GW_FIX_W_REQUIRED)
            m->required[m->nreq++] = tags[i];
    }
    d->msgs[d->nmsgs++] = m;
    return 0;
}

static int digits(const uint8_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static int two(const uint8_t *v, int lo, int hi)
{
    if (!digits(v, 2))
        return 0;
    int x = (v[0] - '0') * 10 + (v[1] - '0');
    return x >= lo && x <= hi;
}

static int date_ok(const uint8_t *v)  /* YYYYMMDD */
{
    return digits(v, 4) && two(v + 4, 1, 12) && two(v + 6, 1, 31);
}

static int time_ok(const uint8_t *v, uint32_t n)  /* HH:MM:SS[.f{0,9}] */
{
    if (n < 8 || !two(v, 0, 23) || v[2] != ':' || !two(v + 3, 0, 59) || v[5] != ':' ||
        !two(v + 6, 0, 60))
        return 0;
    if (n == 8)
        return 1;
    return v[8] == '.' && n - 9 <= 9 && digits(v + 9, n - 9);
}

static int format_ok(int kind, const uint8_t *v, uint32_t n)
{
    switch (kind) {
    case GW_FIX_T_STRING:
        return n > 0;
    case GW_FIX_T_INT: { /* -?[0-9]{1,9}: always within 32 bits */
        uint32_t s = n && v[0] == '-';
        return n - s >= 1 && n - s <= 9 && digits(v + s, n - s);
    }
    case GW_FIX_T_UINT: /* [0-9]{1,19} */
        return n >= 1 && n <= 19 && digits(v, n);
    case GW_FIX_T_DECIMAL: { /* -?([0-9]+(\.[0-9]*)?|\.[0-9]+) */
        uint32_t i = n && v[0] == '-', before = 0, after = 0, dot = 0;
        for (; i < n; i++) {
            if (v[i] == '.' && !dot)
                dot = 1;
            else if (v[i] >= '0' && v[i] <= '9' && dot)
                after++;
            else if (v[i] >= '0' && v[i] <= '9')
                before++;
            else
                return 0;
        }
        return before > 0 || after > 0;
    }
    case GW_FIX_T_CHAR:
        return n == 1;
    case GW_FIX_T_BOOLEAN:
        return n == 1 && (v[0] == 'Y' || v[0] == 'N');
    case GW_FIX_T_TIMESTAMP:
        return n >= 17 && date_ok(v) && v[8] == '-' && time_ok(v + 9, n - 9);
    case GW_FIX_T_TIME:
        return time_ok(v, n);
    case GW_FIX_T_DATE:
        return n == 8 && date_ok(v);
    default:
        return 0;
    }
}

static int in_enum(const struct gw_fix_dict *d, const struct dict_field *f, const uint8_t *v,
                   uint32_t n)
{
    const char *p = d->pool + f->enum_off, *end = p + f->enum_len;
    while (p < end) {
        const char *e = memchr(p, 0x01, (size_t)(end - p));
        size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
        if (len == n && memcmp(p, v, n) == 0)
            return 1;
        p += len + 1;
    }
    return 0;
}

static int value_ok(const struct gw_fix_dict *d, const struct dict_field *f, const uint8_t *v,
                    uint32_t n)
{
    if (!format_ok(f->kind, v, n))
        return 0;
    if (!f->enum_len)
        return 1;
    if (!f->multi)
        return in_enum(d, f, v, n);
    for (uint32_t i = 0, start = 0; i <= n; i++) {
        if (i == n || v[i] == ' ') {
            if (!in_enum(d, f, v + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

static const struct dict_msg *find_msg(const struct gw_fix_dict *d, const uint8_t *t, uint32_t n)
{
    for (uint32_t i = 0; i < d->nmsgs; i++)
        if (d->msgs[i]->type_len == n && memcmp(d->msgs[i]->type, t, n) == 0)
            return d->msgs[i];
    return NULL;
}

static int plain(struct gw_fix_dict *d, const uint8_t *buf, const struct gw_fix_msg *m,
                 const struct gw_fix_field *f)
{
    if (m->error || m->nfields < 4 || f[0].tag != 8 || f[1].tag != 9 || f[2].tag != 35)
        return 0;
    const struct dict_msg *msg = find_msg(d, buf + f[2].off, f[2].len);
    if (!msg)
        return 0;
    if (++d->gen == 0) { /* wrapped: old stamps could match again */
        memset(d->seen, 0, sizeof(d->seen));
        d->gen = 1;
    }
    uint32_t section = 0;
    for (uint32_t i = 0; i < m->nfields; i++) {
        int32_t tag = f[i].tag;
        if (tag <= 0 || tag >= GW_FIX_DICT_MAX_TAG)
            return 0;
        uint8_t w = msg->where[tag];
        if (w == NOT_HERE || (w & GW_FIX_W_GROUP))
            return 0;
        uint32_t sec = w & 3u;
        if (sec < section || d->seen[tag] == d->gen)
            return 0;
        section = sec;
        d->seen[tag] = d->gen;
        if (!value_ok(d, &d->fields[tag], buf + f[i].off, f[i].len))
            return 0;
    }
    for (uint32_t k = 0; k < msg->nreq; k++)
        if (d->seen[msg->required[k]] != d->gen)
            return 0;
    return 1;
}

uint32_t gw_fix_dict_check(struct gw_fix_dict *d, const uint8_t *buf, const struct gw_fix_msg *msgs,
                           uint32_t n, const struct gw_fix_field *fields, uint8_t *ok)
{
    uint32_t good = 0;
    for (uint32_t i = 0; i < n; i++) {
        ok[i] = (uint8_t)plain(d, buf, &msgs[i], fields + msgs[i].first);
        good += ok[i];
    }
    return good;
}
