/*
 * source_binfile.c -- NASDAQ ITCH BinaryFILE day files as a burst source.
 *
 * Theory of operation
 * -------------------
 * A BinaryFILE is a stream of messages, each behind a 2-byte big-endian
 * length, plain or gzip-compressed as NASDAQ publishes it.  zlib's gzread
 * reads both (plain files pass through), into a 4 MiB window.  Each burst
 * hands out one frame per message (link GW_LINK_ITCH) pointing into the
 * window; the next call slides the unconsumed tail to the front first, so
 * a burst's frames stay valid until then.
 *
 * Framing rules: a zero prefix means "use the specification's length for
 * the type" (counted, GW_R_BINFILE_ZERO_LENGTH); a non-zero prefix that
 * disagrees with the specification frames by the prefix and is counted
 * (GW_R_BINFILE_LENGTH_MISMATCH) -- the decoder then counts it again as
 * truncated or longer.  A zero prefix before an unknown type cannot be
 * framed at all: the rest of the file is abandoned and counted.
 *
 * There is no receive time in a BinaryFILE: rx_ns is 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define GW_ITCH_FIELD_TABLE /* this file needs the per-type length table */
#include "gw/gw.h"
#include "source.h"

#define WINDOW (4u << 20)

struct bin_src {
    struct gw_source base;
    gzFile gz;
    uint8_t *buf;
    size_t have;  /* bytes in buf */
    size_t pos;   /* first unconsumed byte */
    int eof;
    int cut;      /* the gzip stream ended early or is corrupt: input lost */
    int dead;     /* framing lost: nothing more to hand out */
    uint64_t offset; /* uncompressed stream offset of buf[pos] */
};

static void fill(struct bin_src *s)
{
    if (s->pos) {
        memmove(s->buf, s->buf + s->pos, s->have - s->pos);
        s->have -= s->pos;
        s->pos = 0;
    }
    while (!s->eof && s->have < WINDOW) {
        /* Read in 64 KiB steps: zlib discards what a failing call had
         * decompressed, so a corrupt stream loses at most one step. */
        size_t room = WINDOW - s->have;
        int n = gzread(s->gz, s->buf + s->have, (unsigned)(room < 65536 ? room : 65536));
        if (n > 0) {
            s->have += (size_t)n;
            continue;
        }
        /* End of input.  gzread() returns 0, not -1, when a gzip stream
         * stops early (Z_BUF_ERROR: a truncated download); -1 is corrupt
         * data.  Either way input was lost: say so and count it once. */
        int zerr;
        const char *msg = gzerror(s->gz, &zerr);
        if (n < 0 || zerr == Z_BUF_ERROR) {
            snprintf(s->base.info.error, sizeof(s->base.info.error), "gzip: %s", msg);
            s->cut = 1;
        }
        s->eof = 1;
    }
    s->base.info.bytes_read = (uint64_t)gzoffset(s->gz);
}

static int next_bin(struct gw_source *base, struct gw_frame *out, uint32_t max)
{
    struct bin_src *s = (struct bin_src *)base;
    uint32_t n = 0;
    if (s->dead)
        return 0;
    fill(s);
    while (n < max) {
        size_t left = s->have - s->pos;
        if (left < 3) /* a prefix and a type byte */
            break;
        const uint8_t *p = s->buf + s->pos;
        uint32_t prefix = (uint32_t)gw_be16(p);
        uint32_t spec = gw_itch_desc[p[2]].size;
        uint32_t mlen = prefix;
        if (prefix == 0) {
            if (!spec) {
                s->base.info.reasons[GW_R_BINFILE_UNFRAMEABLE]++;
                snprintf(s->base.info.error, sizeof(s->base.info.error),
                         "offset %llu: zero length prefix before unknown type 0x%02x; "
                         "cannot frame the rest", (unsigned long long)s->offset, p[2]);
                s->dead = 1;
                break;
            }
            s->base.info.reasons[GW_R_BINFILE_ZERO_LENGTH]++;
            mlen = spec;
        } else if (spec && prefix != spec) {
            s->base.info.reasons[GW_R_BINFILE_LENGTH_MISMATCH]++;
        }
        if (left - 2 < mlen) {
            /* Undo the counts: this message is looked at again next time. */
            if (prefix == 0)
                s->base.info.reasons[GW_R_BINFILE_ZERO_LENGTH]--;
            else if (spec && prefix != spec)
                s->base.info.reasons[GW_R_BINFILE_LENGTH_MISMATCH]--;
            break;
        }
        struct gw_frame *f = &out[n++];
        f->data = p + 2;
        f->len = mlen;
        f->wire_len = mlen;
        f->rx_ns = 0;
        f->link = GW_LINK_ITCH;
        f->line = 0;
        f->flags = 0;
        s->pos += 2 + mlen;
        s->offset += 2 + mlen;
        s->base.info.bytes += mlen;
    }
    if (n == 0 && s->eof && !s->dead && (s->have > s->pos || s->cut)) {
        /* The file ends inside a message (or its gzip stream ends early). */
        s->base.info.reasons[GW_R_TRUNCATED_RECORD]++;
        s->pos = s->have;
        s->cut = 0;
    }
    s->base.info.frames += n;
    return (int)n;
}

static void close_bin(struct gw_source *base)
{
    struct bin_src *s = (struct bin_src *)base;
    if (s->gz)
        gzclose(s->gz);
    free(s->buf);
    free(s);
}

int gw_source_open_binfile(struct gw_source **out, const char *path, uint32_t flags, char *err,
                           size_t errlen)
{
    int rc, fd;
    uint8_t magic[2] = {0, 0};
    (void)flags;
    struct bin_src *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    fd = rc = gw_open_regular(path, &s->base.info.bytes_total, err, errlen);
    if (rc < 0)
        goto out_free;
    int gzipped = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
    s->gz = gzdopen(fd, "rb"); /* owns fd from here */
    if (!s->gz) {
        rc = -ENOMEM;
        close(fd);
        goto out_free;
    }
    gzbuffer(s->gz, 1u << 20);
    s->buf = malloc(WINDOW);
    if (!s->buf) {
        rc = -ENOMEM;
        goto out_gz;
    }
    snprintf(s->base.info.kind, sizeof(s->base.info.kind), gzipped ? "binaryfile-gzip" : "binaryfile");
    s->base.info.link = GW_LINK_ITCH;
    s->base.next = next_bin;
    s->base.close = close_bin;
    *out = &s->base;
    return 0;

out_gz:
    gzclose(s->gz);
out_free:
    free(s);
    return rc;
}
