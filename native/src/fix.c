/*
 * fix.c -- FIX tag=value framing and indexing, in place.
 *
 * Theory of operation
 * -------------------
 * A FIX message is "8=<BeginString>|9=<BodyLength>|...|10=<CheckSum>|" with
 * | the SOH byte.  BodyLength counts the bytes after the 9= field up to and
 * including the SOH before 10=; CheckSum is the sum of every byte before
 * 10=, modulo 256, as three digits.  So a message is framed without reading
 * its body: find 8=, read 9=, jump BodyLength bytes, expect 10=nnn|.  Only a
 * framed message is walked, once, to index its fields (tag, value offset,
 * value length) into the caller's array -- nothing is copied, nothing is
 * allocated.
 *
 * Values are opaque bytes except for the data fields whose length an
 * earlier field gives (RawDataLength 95 -> RawData 96, and the other
 * Len/data pairs of FIX 4.2 and 4.4): those may contain SOH, and are taken
 * by their length.
 *
 * Bad input never stops the scan: bytes that cannot start a message, and a
 * message whose 9= or 10= is wrong, are skipped up to the next "8=FIX" and
 * reported with what was wrong; a framed message whose checksum or fields
 * are wrong is consumed and reported.  Incomplete input is left for the
 * next call (*consumed says how far this one got), and the result does not
 * depend on where the input was split between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gw/gw.h"

#define SOH 0x01

/* Length field -> the data field it measures. */
static uint32_t data_tag_for(uint32_t tag)
{
    switch (tag) {
    case 90: return 91;   /* SecureDataLen -> SecureData */
    case 93: return 89;   /* SignatureLength -> Signature */
    case 95: return 96;   /* RawDataLength -> RawData */
    case 212: return 213; /* XmlDataLen -> XmlData */
    case 348: return 349; case 350: return 351; case 352: return 353;
    case 354: return 355; case 356: return 357; case 358: return 359;
    case 360: return 361; case 362: return 363; case 364: return 365;
    case 445: return 446; case 618: return 619; case 621: return 622;
    default: return 0;
    }
}

/* Where to go on from bytes that are not a message: the next "8=FIX" at or
 * after `from`, or the end of the buffer minus a tail that may be the
 * start of one (kept for the next call, so that where a read ends changes
 * nothing).  Any "8=FIX" is taken: framing a garbled stream again must not
 * depend on the byte before, which an earlier call may have consumed. */
static uint32_t skip_to(const uint8_t *b, uint32_t len, uint32_t from)
{
    for (uint32_t i = from; i < len;) {
        const uint8_t *q = memchr(b + i, '8', len - i);
        if (!q)
            break;
        i = (uint32_t)(q - b);
        uint32_t n = len - i < 5 ? len - i : 5;
        if (memcmp(q, "8=FIX", n) == 0)
            return i; /* a whole "8=FIX", or the start of one at the end */
        i++;
    }
    return len;
}

/* The first "<SOH>10=...<SOH>" at or after `from` (the SOH that ends the
 * body).  Returns 0 when there is none yet, 1 when it starts at `from` (the
 * trailer is where BodyLength says, but its value is not three digits), 2
 * when it is elsewhere; *end is just past its closing SOH. */
static int find_trailer(const uint8_t *b, uint32_t len, uint32_t from, uint32_t *end)
{
    for (uint32_t i = from; i + 4 <= len; i++) {
        const uint8_t *q = memchr(b + i, SOH, len - i);
        if (!q)
            return 0;
        i = (uint32_t)(q - b);
        if (i + 4 > len)
            return 0;
        if (memcmp(q + 1, "10=", 3) != 0)
            continue;
        const uint8_t *e = memchr(q + 4, SOH, len - i - 4);
        if (!e)
            return 0;
        *end = (uint32_t)(e - b) + 1;
        return i == from ? 1 : 2;
    }
    return 0;
}

/* Unsigned decimal of 1..max_digits digits ending at SOH; 0 on failure. */
static int read_uint(const uint8_t *b, uint32_t len, uint32_t *pos, uint32_t max_digits,
                     uint64_t *out)
{
    uint64_t v = 0;
    uint32_t i = *pos, n = 0;
    while (i < len && b[i] >= '0' && b[i] <= '9' && n < max_digits) {
        v = v * 10 + (uint64_t)(b[i] - '0');
        i++;
        n++;
    }
    if (!n || i >= len || b[i] != SOH)
        return 0;
    *out = v;
    *pos = i + 1;
    return 1;
}

static int report(struct gw_fix_msg *m, uint32_t off, uint32_t len, int err)
{
    memset(m, 0, sizeof(*m));
    m->off = off;
    m->len = len;
    m->error = err;
    return 1;
}

/* Index the fields of a framed message [start, end); returns 0 or an error. */
static int index_fields(const uint8_t *b, uint32_t start, uint32_t end, struct gw_fix_msg *m,
                        struct gw_fix_field *f, uint32_t room)
{
    uint32_t i = start, n = 0, data_tag = 0;
    uint64_t data_len = 0;
    while (i < end) {
        uint64_t tag = 0;
        uint32_t digits = 0, d;
        /* A sign is read so that "-1=x" is indexed (as tag -1) and the
         * session can reject it by number, as FIX's test cases ask; tag 0
         * likewise.  No bound check: the message ends in SOH, not a digit. */
        int neg = b[i] == '-';
        i += (uint32_t)neg;
        while ((d = (uint32_t)(b[i] - '0')) < 10 && digits < 9) {
            tag = tag * 10 + d;
            i++;
            digits++;
        }
        if (!digits || i >= end || b[i] != '=')
            return GW_FIX_E_FIELD;
        i++;
        uint32_t voff = i, vlen;
        if (data_tag && !neg && tag == data_tag) {
            if (data_len > end - i || i + data_len >= end || b[i + data_len] != SOH)
                return GW_FIX_E_FIELD;
            vlen = (uint32_t)data_len;
        } else {
            /* The trailer ends in SOH (checked when framing): a sentinel,
             * so the scan needs no bound -- and no call per field. */
            uint32_t k = i;
            while (b[k] != SOH)
                k++;
            vlen = k - i;
        }
        /* An empty value is indexed: FIX has none, but the session answers
         * it with a Reject naming the tag ("Tag specified without a value")
         * rather than dropping the whole message as garbled. */
        if (n == room)
            return GW_FIX_E_TOO_MANY_FIELDS;
        f[n].tag = neg ? -(int32_t)tag : (int32_t)tag;
        f[n].off = voff;
        f[n].len = vlen;
        n++;
        if (tag == 35) {
            m->type_off = voff;
            m->type_len = (uint16_t)(vlen > 0xFFFF ? 0xFFFF : vlen);
        }
        data_tag = neg || tag < 89 ? 0 : data_tag_for((uint32_t)tag); /* 89..622 only */
        if (data_tag) { /* a length: at most 10 digits and 32 bits */
            data_len = 0;
            if (vlen == 0 || vlen > 10)
                return GW_FIX_E_FIELD;
            for (uint32_t k = 0; k < vlen; k++) {
                uint8_t c = b[voff + k];
                if (c < '0' || c > '9')
                    return GW_FIX_E_FIELD;
                data_len = data_len * 10 + (uint64_t)(c - '0');
            }
            if (data_len > 0xFFFFFFFFull)
                return GW_FIX_E_FIELD;
        }
        i = voff + vlen + 1;
    }
    m->nfields = n;
    return 0;
}

int gw_fix_scan(const uint8_t *b, uint32_t len, struct gw_fix_msg *msgs, uint32_t max_msgs,
                struct gw_fix_field *fields, uint32_t max_fields, uint32_t max_body,
                uint32_t *consumed)
{
    uint32_t pos = 0, nm = 0, nf = 0;
    while (nm < max_msgs && pos < len) {
        struct gw_fix_msg *m = &msgs[nm];
        if (len - pos < 5 ? memcmp(b + pos, "8=FIX", len - pos) != 0
                          : memcmp(b + pos, "8=FIX", 5) != 0) {
            uint32_t next = skip_to(b, len, pos + 1);
            nm += report(m, pos, next - pos, GW_FIX_E_GARBAGE);
            pos = next;
            continue;
        }
        /* 8=<BeginString>| */
        const uint8_t *soh = memchr(b + pos, SOH, len - pos < 64 ? len - pos : 64);
        if (!soh) {
            if (len - pos < 64)
                break; /* more bytes may complete it */
            uint32_t next = skip_to(b, len, pos + 1);
            nm += report(m, pos, next - pos, GW_FIX_E_BODY_LENGTH);
            pos = next;
            continue;
        }
        uint32_t i = (uint32_t)(soh - b) + 1;
        /* 9=<BodyLength>| */
        uint64_t body = 0;
        if (len - i < 2 || (b[i] == '9' && len - i < 12 && !memchr(b + i, SOH, len - i)))
            break;
        uint32_t after = i + 2;
        if (b[i] != '9' || b[i + 1] != '=' || !read_uint(b, len, &after, 9, &body)) {
            uint32_t next = skip_to(b, len, pos + 1);
            nm += report(m, pos, next - pos, GW_FIX_E_BODY_LENGTH);
            pos = next;
            continue;
        }
        if (body > max_body) {
            uint32_t next = skip_to(b, len, pos + 1);
            nm += report(m, pos, next - pos, GW_FIX_E_TOO_LONG);
            pos = next;
            continue;
        }
        uint64_t trailer = (uint64_t)after + body;
        if (trailer + 7 > len)
            break; /* incomplete */
        const uint8_t *t = b + trailer;
        if (memcmp(t, "10=", 3) != 0 || t[3] < '0' || t[3] > '9' || t[4] < '0' || t[4] > '9' ||
            t[5] < '0' || t[5] > '9' || t[6] != SOH || (body && b[trailer - 1] != SOH)) {
            /* BodyLength does not point at a well-formed "10=nnn|".  Like
             * the reference engine, the message runs to the first
             * "|10=...|" from there on: a BodyLength that is too long
             * swallows what follows up to the next trailer, so both are
             * dropped together rather than half a message framed. */
            uint32_t end = 0;
            int err = find_trailer(b, len, (uint32_t)trailer - 1, &end);
            if (err == 0) {
                if (len - pos < max_body + 64)
                    break; /* the trailer may still arrive */
                uint32_t next = skip_to(b, len, pos + 1);
                nm += report(m, pos, next - pos, GW_FIX_E_BODY_LENGTH);
                pos = next;
                continue;
            }
            nm += report(m, pos, end - pos,
                         err == 1 ? GW_FIX_E_CHECKSUM : GW_FIX_E_BODY_LENGTH);
            pos = end;
            continue;
        }
        uint32_t end = (uint32_t)trailer + 7;
        uint32_t sum = 0; /* a countable loop over pointers: the compiler vectorises it */
        for (const uint8_t *q = b + pos, *qe = b + trailer; q < qe; q++)
            sum += *q;
        uint16_t sent = (uint16_t)((t[3] - '0') * 100 + (t[4] - '0') * 10 + (t[5] - '0'));
        report(m, pos, end - pos, 0);
        m->body_length = (uint32_t)body;
        m->checksum = sent;
        if ((sum & 0xFF) != sent) {
            m->error = GW_FIX_E_CHECKSUM;
        } else {
            m->first = nf;
            int rc = index_fields(b, pos, end, m, fields + nf, max_fields - nf);
            if (rc == GW_FIX_E_TOO_MANY_FIELDS && nm > 0)
                break; /* room next call, after the caller drains */
            if (rc) {
                m->error = rc;
                m->nfields = 0;
            }
            nf += m->nfields;
        }
        nm++;
        pos = end;
    }
    *consumed = pos;
    return (int)nm;
}

/* ---- encoding from templates ------------------------------------------------ */

struct gw_fix_template {
    char head[32];      /* "8=FIX.4.4|9=" */
    uint32_t head_len;
    char fixed[512];    /* "35=D|49=S|56=T|34=" */
    uint32_t fixed_len;
    uint32_t ntags;
    char tagpfx[GW_FIX_MAX_TEMPLATE_FIELDS][12]; /* "|11=" ... the SOH before each */
    uint8_t tagpfx_len[GW_FIX_MAX_TEMPLATE_FIELDS];
};

int gw_fix_template_open(struct gw_fix_template **out, const char *begin_string,
                         const char *msg_type, const char *sender, const char *target,
                         const uint32_t *tags, uint32_t ntags)
{
    if (ntags > GW_FIX_MAX_TEMPLATE_FIELDS || !begin_string || !msg_type || !sender || !target)
        return GW_ECONFIG;
    struct gw_fix_template *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    int h = snprintf(t->head, sizeof(t->head), "8=%s\x01" "9=", begin_string);
    int f = snprintf(t->fixed, sizeof(t->fixed), "35=%s\x01" "49=%s\x01" "56=%s\x01" "34=",
                     msg_type, sender, target);
    if (h < 0 || (size_t)h >= sizeof(t->head) || f < 0 || (size_t)f >= sizeof(t->fixed)) {
        free(t);
        return GW_ECONFIG;
    }
    t->head_len = (uint32_t)h;
    t->fixed_len = (uint32_t)f;
    for (uint32_t i = 0; i < ntags; i++) {
        if (!tags[i] || tags[i] > 999999999u) {
            free(t);
            return GW_ECONFIG;
        }
        t->tagpfx_len[i] = (uint8_t)snprintf(t->tagpfx[i], sizeof(t->tagpfx[i]), "\x01%u=",
                                             tags[i]);
    }
    t->ntags = ntags;
    *out = t;
    return 0;
}

void gw_fix_template_close(struct gw_fix_template *t) { free(t); }

static inline uint32_t put_uint(uint8_t *p, uint64_t v)
{
    uint8_t tmp[20];
    uint32_t n = 0;
    do {
        tmp[n++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    for (uint32_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static inline uint32_t uint_digits(uint64_t v)
{
    uint32_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static inline uint32_t value_len(const uint8_t *v, uint32_t width)
{
    const uint8_t *z = memchr(v, 0, width);
    return z ? (uint32_t)(z - v) : width;
}

int gw_fix_encode_columns(const struct gw_fix_template *t, const uint64_t *seqs, uint32_t n,
                          const char *sending_time, const struct gw_fix_column *cols,
                          uint8_t *out, uint32_t cap, uint32_t *ends)
{
    uint32_t tlen = (uint32_t)strlen(sending_time), pos = 0;
    for (uint32_t m = 0; m < n; m++) {
        /* BodyLength first: everything after "9=n|" up to the SOH before 10=. */
        uint64_t body = t->fixed_len + uint_digits(seqs[m]) + 4 + tlen; /* "|52=" + time */
        for (uint32_t k = 0; k < t->ntags; k++) {
            uint32_t vl = value_len(cols[k].base + (size_t)m * cols[k].stride, cols[k].width);
            if (vl)
                body += t->tagpfx_len[k] + vl;
        }
        body += 1; /* the SOH that ends the last field */
        uint64_t need = t->head_len + uint_digits(body) + 1 + body + 7;
        if (pos + need > cap)
            return (int)m;
        uint8_t *p = out + pos, *start = p;
        memcpy(p, t->head, t->head_len);
        p += t->head_len;
        p += put_uint(p, body);
        *p++ = 0x01;
        memcpy(p, t->fixed, t->fixed_len);
        p += t->fixed_len;
        p += put_uint(p, seqs[m]);
        memcpy(p, "\x01" "52=", 4);
        p += 4;
        memcpy(p, sending_time, tlen);
        p += tlen;
        for (uint32_t k = 0; k < t->ntags; k++) {
            const uint8_t *v = cols[k].base + (size_t)m * cols[k].stride;
            uint32_t vl = value_len(v, cols[k].width);
            if (!vl)
                continue;
            memcpy(p, t->tagpfx[k], t->tagpfx_len[k]);
            p += t->tagpfx_len[k];
            memcpy(p, v, vl);
            p += vl;
        }
        *p++ = 0x01;
        uint32_t sum = 0;
        for (const uint8_t *q = start; q < p; q++)
            sum += *q;
        sum &= 0xFF;
        p[0] = '1';
        p[1] = '0';
        p[2] = '=';
        p[3] = (uint8_t)('0' + sum / 100);
        p[4] = (uint8_t)('0' + sum / 10 % 10);
        p[5] = (uint8_t)('0' + sum % 10);
        p[6] = 0x01;
        p += 7;
        pos = (uint32_t)(p - out);
        ends[m] = pos;
    }
    return (int)n;
}

int gw_fix_encode_packed(const struct gw_fix_template *t, uint64_t seq, const char *sending_time,
                         const uint8_t *values, const uint16_t *lens, uint8_t *out, uint32_t cap)
{
    struct gw_fix_column cols[GW_FIX_MAX_TEMPLATE_FIELDS];
    uint32_t off = 0, end = 0;
    for (uint32_t k = 0; k < t->ntags; k++) {
        cols[k].base = values + off;
        cols[k].stride = 0;
        cols[k].width = lens[k];
        off += lens[k];
    }
    int done = gw_fix_encode_columns(t, &seq, 1, sending_time, cols, out, cap, &end);
    return done == 1 ? (int)end : -ENOSPC;
}
