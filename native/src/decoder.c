/*
 * decoder.c -- frames -> Ethernet/VLAN/IPv4/UDP -> MoldUDP64 -> ITCH 5.0.
 *
 * Theory of operation
 * -------------------
 * gw_decoder_frames() takes a burst of frame descriptors and walks each
 * frame in place: link header, up to two VLAN tags, IPv4 (options allowed),
 * UDP, then the MoldUDP64 header and its message blocks.  Nothing is copied;
 * every field is read from the frame with explicit big-endian loads.  Each
 * anomaly is counted under one gw_reason and the walk goes on with the next
 * frame (or, inside a packet, stops at the first block it cannot trust).
 *
 * The MoldUDP64 sequencer (one line, several sessions) decides per packet
 * which of its messages are new: a packet wholly behind the expected
 * sequence is a duplicate, one that overlaps it skips its first messages,
 * one ahead of it opens a gap that is logged with its range.  Heartbeats
 * (count 0) and end of session (0xFFFF) carry the next expected sequence,
 * so a gap at the tail is seen too.  Policy for the first packet of a
 * session (joining late): it sets the expected sequence; messages before it
 * are not called a gap (first_seq records where we joined).
 *
 * Each new ITCH message is counted by type and folded into the digest; with
 * GW_DEC_RECORDS its fields are decoded into a gw_itch_record by the fill
 * function generated for its type (constant offsets: one load per field).  The record buffer is fixed at open: a burst stops
 * before a frame that might not fit, and the caller drains and resumes.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define GW_ITCH_FIELD_TABLE /* this file needs the per-type length table */
#include "gw/gw.h"
#include "book.h"

struct gw_decoder {
    struct gw_decoder_stats st;
    uint32_t flags;
    uint32_t cap;            /* record capacity */
    uint32_t nrec;           /* records filled */
    uint32_t nsessions;
    uint32_t ngaps;
    uint64_t frame_index;    /* frames seen so far (record provenance) */
    uint64_t binfile_seq;    /* ordinal of the next BinaryFILE message */
    uint8_t want[256];       /* record this type? */
    struct gw_books *books;  /* attached books, or NULL */
    int stop_armed;          /* stop_after() was called */
    uint32_t ndest;          /* subscribed destinations; 0 = all */
    struct gw_destination dest[GW_MAX_DESTINATIONS];
    int stopped;             /* ... and its point was passed */
    uint64_t stop_seq;
    int64_t stop_ns;
    struct gw_mold_session sessions[GW_MAX_SESSIONS];
    struct gw_gap gaps[GW_GAP_LOG];
    struct gw_itch_record *rec;
    struct gw_line_stats lines[GW_MAX_LINES];
    /* hold mode: the gap buffer (see "Hold mode" below) */
    struct held *hold;       /* slot for sequence q: hold[q & hmask] */
    uint8_t *arena;          /* copies of the held messages */
    uint64_t hmask;
    uint64_t nheld;
    uint32_t arena_size, arena_used;
    uint16_t hold_session;   /* whose messages the buffer holds (while nheld) */
    uint64_t join_gap;
};

struct held {
    uint64_t seq;            /* 0 = empty */
    int64_t rx_ns;
    uint32_t off;
    uint16_t len;
    uint16_t line;
};

#define ETH_P_IPV4 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static inline void count(struct gw_decoder *d, int reason, uint64_t n)
{
    d->st.reasons[reason] += n;
}

/* ---- ITCH ------------------------------------------------------------- */

static inline void fill_record(struct gw_decoder *d, const uint8_t *m, uint32_t len,
                               uint64_t seq, uint16_t session, const struct gw_frame *f)
{
    if (GW_UNLIKELY(d->nrec == d->cap))
        return; /* unreachable: gw_decoder_frames reserves the worst case */
    struct gw_itch_record *r = &d->rec[d->nrec++];
    r->seq = seq;
    r->rx_ns = f->rx_ns;
    r->session = session;
    r->length = (uint16_t)len;
    r->type = m[0];
    r->line = f->line;
    r->frame = d->frame_index;
    /* Generated per type from the layout table: one load per field. */
    r->nfields = (uint8_t)gw_itch_fill(m, r->v);
}

/* Check and count one ITCH message in place (and record it if asked);
 * returns 1 if it was decoded, so that it goes to the books. */
static inline int itch_accept(struct gw_decoder *d, const uint8_t *m, uint32_t len, uint64_t seq,
                              uint16_t session, const struct gw_frame *f)
{
    if (GW_UNLIKELY(len == 0)) {
        count(d, GW_R_ITCH_EMPTY, 1);
        return 0;
    }
    const struct gw_msg_desc *desc = &gw_itch_desc[m[0]];
    if (GW_UNLIKELY(desc->size == 0)) {
        count(d, GW_R_ITCH_UNKNOWN_TYPE, 1);
        return 0;
    }
    if (GW_UNLIKELY(len != desc->size)) {
        if (len < desc->size) {
            count(d, GW_R_ITCH_TRUNCATED, 1);
            return 0;
        }
        count(d, GW_R_ITCH_LONGER, 1);
    }
    if (GW_UNLIKELY(d->stop_armed) &&
        (d->stopped || /* later messages of the packet that passed the point */
         (d->stop_seq && seq > d->stop_seq) ||
         (d->stop_ns >= 0 && (int64_t)gw_itch_timestamp(m) > d->stop_ns))) {
        d->stopped = 1;
        return 0;
    }
    d->st.messages++;
    d->st.message_bytes += len;
    d->st.by_type[m[0]]++;
    d->st.digest += gw_itch_digest(m);
    if ((d->flags & GW_DEC_RECORDS) && d->want[m[0]])
        fill_record(d, m, len, seq, session, f);
    return 1;
}

/* Decode one ITCH message and apply it to the books at once. */
static inline int itch_message(struct gw_decoder *d, const uint8_t *m, uint32_t len, uint64_t seq,
                               uint16_t session, const struct gw_frame *f)
{
    if (!itch_accept(d, m, len, seq, session, f))
        return 0;
    if (d->books)
        gw_books_apply(d->books, m, seq, f->rx_ns);
    return 1;
}

/* ---- MoldUDP64 sequencing ---------------------------------------------- */

/* The next message block of a packet at *pos: 1 and the message, or 0
 * (counted) when the packet cannot hold it. */
static inline int next_block(struct gw_decoder *d, const uint8_t *p, uint32_t len, uint32_t *pos,
                             const uint8_t **m, uint32_t *mlen)
{
    if (GW_UNLIKELY(*pos + 2 > len)) {
        count(d, GW_R_MOLD_COUNT_OVERRUN, 1);
        return 0;
    }
    *mlen = (uint32_t)gw_be16(p + *pos);
    *pos += 2;
    if (GW_UNLIKELY(*pos + *mlen > len)) {
        count(d, GW_R_MOLD_LENGTH_OVERRUN, 1);
        return 0;
    }
    *m = p + *pos;
    *pos += *mlen;
    return 1;
}

static int session_index(struct gw_decoder *d, const uint8_t *name)
{
    /* Few sessions per line (usually one a day): a linear scan from the
     * most recent is cheaper than hashing. */
    for (int i = (int)d->nsessions - 1; i >= 0; i--)
        if (memcmp(d->sessions[i].name, name, GW_MOLD_SESSION_SIZE) == 0)
            return i;
    if (d->nsessions == GW_MAX_SESSIONS)
        return -1;
    struct gw_mold_session *s = &d->sessions[d->nsessions];
    memset(s, 0, sizeof(*s));
    memcpy(s->name, name, GW_MOLD_SESSION_SIZE);
    return (int)d->nsessions++;
}

/* A gap is seen: n messages are missing (not yet lost in hold mode). */
static void gap_seen(struct gw_decoder *d, struct gw_mold_session *s, uint64_t n, int64_t rx_ns)
{
    s->gaps++;
    s->gap_messages += n;
    d->st.gaps++;
    d->st.gap_messages += n;
    if (!s->gap_since_ns)
        s->gap_since_ns = rx_ns;
}

/* Messages [first, first + n) will never be applied: counted and logged. */
static void gap_logged(struct gw_decoder *d, uint16_t sidx, struct gw_mold_session *s,
                       uint64_t first, uint64_t n, int64_t rx_ns, uint16_t line)
{
    s->lost += n;
    if (d->ngaps < GW_GAP_LOG) {
        struct gw_gap *g = &d->gaps[d->ngaps++];
        g->first = first;
        g->count = n;
        g->rx_ns = rx_ns;
        g->session = sidx;
        g->line = line;
        g->_pad = 0;
    }
}

/* ... and no book can be trusted any more. */
static void gap_lost(struct gw_decoder *d, uint16_t sidx, struct gw_mold_session *s,
                     uint64_t first, uint64_t n, int64_t rx_ns, uint16_t line)
{
    gap_logged(d, sidx, s, first, n, rx_ns, line);
    if (d->books)
        gw_books_gap(d->books, first, n, rx_ns);
}

/* Without hold mode a gap is lost the moment it is seen. */
static void note_gap(struct gw_decoder *d, uint16_t sidx, struct gw_mold_session *s,
                     uint64_t first, uint64_t n, int64_t rx_ns, uint16_t line)
{
    gap_seen(d, s, n, rx_ns);
    gap_lost(d, sidx, s, first, n, rx_ns, line);
    s->gap_since_ns = 0;
}

/* ---- Hold mode (GW_DEC_HOLD_GAPS): arbitration and the gap buffer ----------
 *
 * Every line of a feed goes through one decoder, so arbitration is per
 * message: a message is applied the first time its sequence is the next
 * expected one, whichever line (or the retransmission server) brought it;
 * later copies are duplicates.  Lines may pack differently: only sequence
 * numbers matter.
 *
 * A message ahead of the expected sequence is copied into the gap buffer
 * (the frame it came in belongs to the source and is reused by its next
 * burst, so holding frames would stall the receive ring).  The buffer is a
 * window of slots indexed by sequence, [next, next + slots), over a byte
 * arena that is reset whenever it empties.  When the gap closes, held
 * messages are applied in order.  Whoever closes it -- line B, a
 * retransmission, or gw_decoder_give_up() when the policy in Python gives
 * up -- nothing is applied twice or out of order.  A message that does not
 * fit (past the window, arena full, or the buffer held by another session)
 * gives up the gaps in front of it at once (counted as mold_hold_full): the
 * buffer is bounded and the feed goes on. */

static inline struct held *held_at(struct gw_decoder *d, uint64_t q)
{
    struct held *h = &d->hold[q & d->hmask];
    return h->seq == q ? h : NULL;
}

static inline struct gw_line_stats *line_of(struct gw_decoder *d, uint16_t line)
{
    return &d->lines[line < GW_MAX_LINES ? line : GW_MAX_LINES - 1];
}

static void apply_held(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx,
                       struct held *h)
{
    struct gw_frame fr = {0};
    fr.rx_ns = h->rx_ns;
    fr.line = h->line;
    fr.link = GW_LINK_MOLD;
    itch_message(d, d->arena + h->off, h->len, h->seq, sidx, &fr);
    h->seq = 0;
    d->nheld--;
    s->held--;
    s->messages++;
    s->next_seq++;
}

/* Apply held messages while they are next. */
static void drain(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx)
{
    struct held *h;
    while (d->nheld && d->hold_session == sidx && (h = held_at(d, s->next_seq)))
        apply_held(d, s, sidx, h);
    if (!d->nheld)
        d->arena_used = 0;
    if (s->next_seq >= s->known_end)
        s->gap_since_ns = 0;
}

/* Give up what is missing below upto: held messages are applied in order,
 * each missing run is lost.  Returns messages lost. */
static uint64_t give_up_to(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx,
                           uint64_t upto, int64_t rx_ns, uint16_t line)
{
    uint64_t lost = 0;
    int mine = d->nheld && d->hold_session == sidx;
    while (s->next_seq < upto) {
        uint64_t q = s->next_seq;
        struct held *h = mine ? held_at(d, q) : NULL;
        if (h) {
            apply_held(d, s, sidx, h);
            continue;
        }
        /* Held messages all lie inside the window, so a run with no held
         * message in the window runs to upto. */
        uint64_t r = q + 1, lim = q + d->hmask + 1;
        if (mine)
            while (r < upto && r < lim && !held_at(d, r))
                r++;
        if (!mine || r == lim)
            r = upto;
        gap_lost(d, sidx, s, q, r - q, rx_ns, line);
        lost += r - q;
        s->next_seq = r;
        mine = d->nheld && d->hold_session == sidx;
    }
    drain(d, s, sidx);
    return lost;
}

/* Copy message q into the buffer: 0 held, 1 already held, -1 no room. */
static int hold_put(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx, uint64_t q,
                    const uint8_t *m, uint32_t len, const struct gw_frame *f)
{
    if (d->nheld && d->hold_session != sidx)
        return -1;
    if (q - s->next_seq > d->hmask)
        return -1;
    struct held *h = &d->hold[q & d->hmask];
    if (h->seq == q)
        return 1;
    if (len > d->arena_size - d->arena_used)
        return -1;
    memcpy(d->arena + d->arena_used, m, len);
    h->seq = q;
    h->rx_ns = f->rx_ns;
    h->off = d->arena_used;
    h->len = (uint16_t)len;
    h->line = f->line;
    d->arena_used += len;
    d->nheld++;
    s->held++;
    d->hold_session = sidx;
    return 0;
}

/* The first packet of a session in hold mode (see gw_decoder_config). */
static void join_held(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx, uint64_t seq,
                      const struct gw_frame *f)
{
    s->joined = 1;
    s->first_seq = seq;
    if (seq > 1 && seq - 1 <= d->join_gap) {
        s->next_seq = s->known_end = 1; /* [1, seq) is an ordinary gap */
        return;
    }
    s->next_seq = s->known_end = seq;
    if (seq > 1) {
        /* The day's earlier orders are unknown: no book can be whole. */
        count(d, GW_R_MOLD_LATE_JOIN, 1);
        gap_logged(d, sidx, s, 1, seq - 1, f->rx_ns, f->line);
        if (d->books)
            gw_books_joined_late(d->books, 1, seq - 1, f->rx_ns);
    }
}

/* A heartbeat or end of session in hold mode: its sequence is the next the
 * sender will use, so messages before it that we lack are a gap. */
static void held_marker(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx,
                        uint64_t seq, const struct gw_frame *f)
{
    if (!s->joined)
        join_held(d, s, sidx, seq, f);
    uint64_t had = s->known_end > s->next_seq ? s->known_end : s->next_seq;
    if (seq > had) {
        gap_seen(d, s, seq - had, f->rx_ns);
        s->known_end = seq;
    }
}

/* A data packet in hold mode that is ahead of the expected sequence, or
 * arrives while messages are held. */
static void mold_held(struct gw_decoder *d, struct gw_mold_session *s, uint16_t sidx,
                      const uint8_t *p, uint32_t len, uint64_t seq, uint32_t cnt,
                      const struct gw_frame *f)
{
    uint64_t had = s->known_end > s->next_seq ? s->known_end : s->next_seq;
    if (seq > had)
        gap_seen(d, s, seq - had, f->rx_ns);
    uint64_t dups = 0, first = 0, filled = 0;
    uint32_t pos = GW_MOLD_HEADER_SIZE, i = 0, mlen;
    const uint8_t *m;
    for (; i < cnt && next_block(d, p, len, &pos, &m, &mlen); i++) {
        uint64_t q = seq + i;
        if (q < s->next_seq) {
            dups++;
            continue;
        }
        if (q > s->next_seq) {
            int r = hold_put(d, s, sidx, q, m, mlen, f);
            if (r == 1) {
                dups++;
                continue;
            }
            if (r == 0) {
                first++;
                filled += q < had;
                continue;
            }
            /* No room: what is missing in front of q is given up now. */
            count(d, GW_R_MOLD_HOLD_FULL, 1);
            give_up_to(d, s, sidx, q, f->rx_ns, f->line);
        }
        /* q is next: apply it, then whatever it frees from the buffer. */
        itch_message(d, m, mlen, q, sidx, f);
        s->messages++;
        s->next_seq++;
        first++;
        filled += q < had;
        drain(d, s, sidx);
    }
    if (i == cnt && pos != len)
        count(d, GW_R_MOLD_TRAILING_BYTES, 1);
    if (seq + i > s->known_end)
        s->known_end = seq + i;
    if (dups) {
        s->dup_packets++;
        s->dup_messages += dups;
        d->st.dup_messages += dups;
        count(d, GW_R_MOLD_DUPLICATE, dups);
    }
    s->filled += filled;
    line_of(d, f->line)->first += first;
    if (s->next_seq >= s->known_end)
        s->gap_since_ns = 0;
}

/* Per-line health: each line's own sequence, whatever the other lines did. */
static void line_packet(struct gw_decoder *d, const struct gw_frame *f, uint16_t sidx,
                        uint64_t seq, uint32_t cnt, uint32_t len)
{
    struct gw_line_stats *l = line_of(d, f->line);
    l->packets++;
    l->bytes += len;
    l->messages += cnt;
    l->last_rx_ns = f->rx_ns;
    if (l->session != sidx || !l->next_seq) {
        l->session = sidx;
        l->next_seq = seq + cnt;
        return;
    }
    if (seq > l->next_seq)
        l->lost += seq - l->next_seq;
    if (seq + cnt > l->next_seq)
        l->next_seq = seq + cnt;
}

/* The sequence 'seq' arrives (first of a packet, or a heartbeat's next
 * expected).  Opens a gap if it is ahead; returns how many leading
 * messages are duplicates. */
static uint64_t sequence_arrives(struct gw_decoder *d, uint16_t sidx, struct gw_mold_session *s,
                                 uint64_t seq, const struct gw_frame *f)
{
    if (!s->joined) { /* first packet of this session: join here */
        s->joined = 1;
        s->first_seq = seq;
        s->next_seq = seq;
        return 0;
    }
    if (seq > s->next_seq) {
        note_gap(d, sidx, s, s->next_seq, seq - s->next_seq, f->rx_ns, f->line);
        s->next_seq = seq;
        return 0;
    }
    return s->next_seq - seq;
}

static void mold_packet(struct gw_decoder *d, const uint8_t *p, uint32_t len,
                        const struct gw_frame *f)
{
    if (GW_UNLIKELY(len < GW_MOLD_HEADER_SIZE)) {
        count(d, GW_R_MOLD_SHORT, 1);
        return;
    }
    d->st.mold_packets++;
    int si = session_index(d, p);
    if (GW_UNLIKELY(si < 0)) {
        count(d, GW_R_MOLD_SESSIONS_FULL, 1);
        return;
    }
    struct gw_mold_session *s = &d->sessions[si];
    uint16_t sidx = (uint16_t)si;
    uint64_t seq = gw_be64(p + GW_MOLD_SEQUENCE_OFF);
    uint32_t cnt = (uint32_t)gw_be16(p + GW_MOLD_COUNT_OFF);
    s->packets++;

    int hold = d->flags & GW_DEC_HOLD_GAPS;

    if (cnt == GW_MOLD_HEARTBEAT_COUNT || cnt == GW_MOLD_END_OF_SESSION_COUNT) {
        line_packet(d, f, sidx, seq, 0, len);
        if (cnt == GW_MOLD_HEARTBEAT_COUNT) {
            s->heartbeats++;
            d->st.heartbeats++;
        } else {
            s->ended = 1;
            d->st.end_of_session++;
        }
        /* The header carries the next sequence the sender will use. */
        if (hold)
            held_marker(d, s, sidx, seq, f);
        else
            sequence_arrives(d, sidx, s, seq, f);
        if (len > GW_MOLD_HEADER_SIZE)
            count(d, GW_R_MOLD_TRAILING_BYTES, 1);
        return;
    }
    line_packet(d, f, sidx, seq, cnt, len);
    if (hold) {
        if (!s->joined)
            join_held(d, s, sidx, seq, f);
        if (seq > s->next_seq || d->nheld) {
            mold_held(d, s, sidx, p, len, seq, cnt, f);
            return;
        }
        /* In order and nothing held: the plain path below, which cannot
         * open a gap from here. */
    }

    uint64_t skip = sequence_arrives(d, sidx, s, seq, f);
    if (skip) {
        s->dup_packets++;
        uint64_t dups = skip < cnt ? skip : cnt;
        s->dup_messages += dups;
        d->st.dup_messages += dups;
        count(d, GW_R_MOLD_DUPLICATE, dups);
        if (skip >= cnt)
            return; /* all seen before: do not even walk it */
    }

    uint32_t pos = GW_MOLD_HEADER_SIZE, i = 0, mlen;
    const uint8_t *m;
    if (d->books) {
        /* The packet's messages go to the books in bursts, one call each:
         * the books prefetch a whole burst before applying it. */
        struct gw_book_msg burst[GW_BOOK_BURST];
        uint32_t k = 0;
        for (; i < cnt && next_block(d, p, len, &pos, &m, &mlen); i++) {
            if (i < skip || !itch_accept(d, m, mlen, seq + i, sidx, f))
                continue;
            burst[k].m = m;
            burst[k].seq = seq + i;
            burst[k].len = mlen;
            if (++k == GW_BOOK_BURST) {
                gw_books_apply_burst(d->books, burst, k, f->rx_ns);
                k = 0;
            }
        }
        if (k)
            gw_books_apply_burst(d->books, burst, k, f->rx_ns);
    } else {
        for (; i < cnt && next_block(d, p, len, &pos, &m, &mlen); i++)
            if (i >= skip)
                itch_accept(d, m, mlen, seq + i, sidx, f);
    }
    if (i == cnt && pos != len)
        count(d, GW_R_MOLD_TRAILING_BYTES, 1);
    /* Only messages actually framed advance the line: what a broken packet
     * failed to carry is a gap the next packet will reveal. */
    if (i > skip) {
        s->messages += i - skip;
        s->next_seq = seq + i;
        line_of(d, f->line)->first += i - skip;
    }
    if (s->next_seq > s->known_end)
        s->known_end = s->next_seq;
}

/* ---- link, IPv4, UDP ---------------------------------------------------- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t n)
{
    for (; n > 1; p += 2, n -= 2)
        sum += (uint32_t)gw_be16(p);
    if (n)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

/* A few feeds per port: a linear scan beats hashing. */
static int subscribed(const struct gw_decoder *d, const uint8_t *ip, const uint8_t *udp)
{
    uint32_t addr;
    memcpy(&addr, ip + 16, 4);
    uint16_t port = (uint16_t)gw_be16(udp + 2);
    for (uint32_t i = 0; i < d->ndest; i++)
        if (d->dest[i].addr == addr && d->dest[i].port == port)
            return 1;
    return 0;
}

static void ipv4_packet(struct gw_decoder *d, const uint8_t *ip, uint32_t avail,
                        const struct gw_frame *f)
{
    if (GW_UNLIKELY(avail < 20)) {
        count(d, GW_R_SHORT_FRAME, 1);
        return;
    }
    uint32_t ver = ip[0] >> 4, ihl = (uint32_t)(ip[0] & 0x0F) * 4;
    uint32_t total = (uint32_t)gw_be16(ip + 2);
    if (GW_UNLIKELY(ver != 4 || ihl < 20 || total < ihl)) {
        count(d, ver == 6 ? GW_R_IPV6 : GW_R_BAD_IP_HEADER, 1);
        return;
    }
    if (GW_UNLIKELY(total > avail)) {
        /* Captured short of what the header says was sent. */
        count(d, f->wire_len > f->len ? GW_R_SNAPPED : GW_R_BAD_IP_HEADER, 1);
        return;
    }
    if (GW_UNLIKELY(gw_be16(ip + 6) & 0x3FFF)) { /* MF flag or fragment offset */
        count(d, GW_R_IP_FRAGMENT, 1);
        return;
    }
    if (GW_UNLIKELY(ip[9] != IPPROTO_UDP_)) {
        count(d, ip[9] == IPPROTO_TCP_ ? GW_R_TCP : GW_R_OTHER_IP_PROTOCOL, 1);
        return;
    }
    if ((d->flags & GW_DEC_VERIFY_CHECKSUMS) && csum_fold(csum_add(0, ip, ihl)) != 0xFFFF) {
        count(d, GW_R_IP_CHECKSUM, 1);
        return;
    }
    const uint8_t *udp = ip + ihl;
    uint32_t room = total - ihl;
    if (GW_UNLIKELY(room < 8)) {
        count(d, GW_R_SHORT_FRAME, 1);
        return;
    }
    uint32_t ulen = (uint32_t)gw_be16(udp + 4);
    if (GW_UNLIKELY(ulen < 8 || ulen > room)) {
        count(d, GW_R_BAD_UDP_HEADER, 1);
        return;
    }
    if ((d->flags & GW_DEC_VERIFY_CHECKSUMS) && gw_be16(udp + 6) != 0) {
        uint32_t sum = csum_add(0, ip + 12, 8); /* source and destination */
        sum += IPPROTO_UDP_ + ulen;
        sum = csum_add(sum, udp, ulen);
        if (csum_fold(sum) != 0xFFFF) {
            count(d, GW_R_UDP_CHECKSUM, 1);
            return;
        }
    }
    d->st.udp_packets++;
    if (d->ndest && !subscribed(d, ip, udp)) {
        count(d, GW_R_OTHER_DESTINATION, 1);
        return;
    }
    mold_packet(d, udp + 8, ulen - 8, f);
}

static void ethernet_frame(struct gw_decoder *d, const struct gw_frame *f)
{
    const uint8_t *p = f->data;
    uint32_t len = f->len;
    if (GW_UNLIKELY(len < 14)) {
        count(d, GW_R_SHORT_FRAME, 1);
        return;
    }
    uint32_t off = 12;
    uint32_t type = (uint32_t)gw_be16(p + off);
    for (int tags = 0; type == ETH_P_8021Q || type == ETH_P_8021AD; tags++) {
        if (tags == 2) {
            count(d, GW_R_VLAN_TOO_DEEP, 1);
            return;
        }
        off += 4;
        if (GW_UNLIKELY(off + 2 > len)) {
            count(d, GW_R_SHORT_FRAME, 1);
            return;
        }
        type = (uint32_t)gw_be16(p + off);
    }
    off += 2;
    switch (type) {
    case ETH_P_IPV4: ipv4_packet(d, p + off, len - off, f); return;
    case ETH_P_ARP: count(d, GW_R_ARP, 1); return;
    case ETH_P_IPV6: count(d, GW_R_IPV6, 1); return;
    default: count(d, GW_R_OTHER_ETHERTYPE, 1); return;
    }
}

static void sll_frame(struct gw_decoder *d, const struct gw_frame *f, uint32_t hdr,
                      uint32_t proto_off)
{
    if (GW_UNLIKELY(f->len < hdr)) {
        count(d, GW_R_SHORT_FRAME, 1);
        return;
    }
    uint32_t type = (uint32_t)gw_be16(f->data + proto_off);
    switch (type) {
    case ETH_P_IPV4: ipv4_packet(d, f->data + hdr, f->len - hdr, f); return;
    case ETH_P_ARP: count(d, GW_R_ARP, 1); return;
    case ETH_P_IPV6: count(d, GW_R_IPV6, 1); return;
    default: count(d, GW_R_OTHER_ETHERTYPE, 1); return;
    }
}

static inline void one_frame(struct gw_decoder *d, const struct gw_frame *f)
{
    if (GW_UNLIKELY(d->stopped))
        return; /* past the stop point: the books stay as they were there */
    d->st.frames++;
    d->st.frame_bytes += f->len;
    if (!d->st.first_rx_ns)
        d->st.first_rx_ns = f->rx_ns;
    d->st.last_rx_ns = f->rx_ns;
    switch (f->link) {
    case GW_LINK_ETHERNET: ethernet_frame(d, f); break;
    case GW_LINK_MOLD:
        /* No UDP datagram is larger; the record reservation relies on it. */
        if (GW_UNLIKELY(f->len > 65535))
            count(d, GW_R_OVERSIZED_FRAME, 1);
        else
            mold_packet(d, f->data, f->len, f);
        break;
    case GW_LINK_ITCH:
        itch_message(d, f->data, f->len, ++d->binfile_seq, 0xFFFF, f);
        break;
    case GW_LINK_RAW_IPV4: ipv4_packet(d, f->data, f->len, f); break;
    case GW_LINK_RAW:
        if (f->len && (f->data[0] >> 4) == 6)
            count(d, GW_R_IPV6, 1);
        else
            ipv4_packet(d, f->data, f->len, f);
        break;
    case GW_LINK_LINUX_SLL: sll_frame(d, f, 16, 14); break;
    case GW_LINK_LINUX_SLL2: sll_frame(d, f, 20, 0); break;
    default: count(d, GW_R_UNKNOWN_LINKTYPE, 1); break;
    }
    d->frame_index++;
}

/* The most records one frame can produce.  Only decoded messages make
 * records, and the shortest ITCH message is 12 bytes behind a 2-byte block
 * length; a bare ITCH frame (BinaryFILE) is one message.  A UDP datagram,
 * hence a MoldUDP64 packet, is at most 65535 bytes. */
#define GW_MIN_ITCH_BLOCK (2 + GW_ITCH_MIN_LEN)
static inline uint32_t worst_case_records(const struct gw_frame *f)
{
    uint32_t len = f->len < 65535 ? f->len : 65535;
    return f->link == GW_LINK_ITCH ? 1 : len / GW_MIN_ITCH_BLOCK + 1;
}

int gw_decoder_frames(struct gw_decoder *d, const struct gw_frame *frames, uint32_t n)
{
    uint32_t i = 0;
    if (d->flags & GW_DEC_RECORDS) {
        for (; i < n; i++) {
            uint32_t need = worst_case_records(&frames[i]);
            /* Always take at least one frame into an empty buffer, so a
             * huge frame cannot stall the caller; the cap (below) bounds it. */
            if (d->nrec + need > d->cap && d->nrec > 0)
                break;
            one_frame(d, &frames[i]);
        }
        return (int)i;
    }
    for (; i < n; i++) {
        /* The next frame's headers, while this one is decoded: frames of
         * different lines sit in different buffers, and a duplicate packet
         * costs little more than the miss on its header. */
        if (i + 1 < n)
            __builtin_prefetch(frames[i + 1].data);
        one_frame(d, &frames[i]);
    }
    return (int)i;
}

int gw_decoder_pump(struct gw_decoder *d, struct gw_source *src, struct gw_frame *scratch,
                    uint32_t burst)
{
    int n = gw_source_next(src, scratch, burst);
    if (n <= 0)
        return n;
    for (uint32_t done = 0; done < (uint32_t)n;) {
        done += (uint32_t)gw_decoder_frames(d, scratch + done, (uint32_t)n - done);
        d->nrec = 0; /* pump is for counting runs: records are not kept */
    }
    return n;
}

static int all_ended(const struct gw_decoder *d)
{
    if (!d->nsessions)
        return 0;
    for (uint32_t i = 0; i < d->nsessions; i++)
        if (!d->sessions[i].ended || d->sessions[i].next_seq < d->sessions[i].known_end)
            return 0;
    return 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gw_decoder_run(struct gw_decoder *d, struct gw_source *src, struct gw_source *extra,
                       struct gw_frame *scratch, uint32_t burst, int64_t max_ns, uint32_t flags,
                       int *why)
{
    int64_t total = 0, until = mono_ns() + max_ns;
    uint64_t gaps = d->st.gaps;
    for (uint32_t i = 0;; i++) {
        int n = gw_decoder_pump(d, src, scratch, burst);
        if (n < 0)
            return n;
        total += n;
        if (extra) {
            int m = gw_decoder_pump(d, extra, scratch, burst);
            if (m < 0)
                return m;
            total += m;
            n += m;
        }
        if (all_ended(d)) {
            *why = GW_RUN_ENDED;
            break;
        }
        if (d->st.gaps != gaps) {
            *why = GW_RUN_GAP;
            break;
        }
        if (n == 0 && !(flags & GW_RUN_SPIN)) {
            *why = GW_RUN_IDLE;
            break;
        }
        /* The clock only every few bursts: a busy feed stays in here. */
        if ((n == 0 || (i & 15) == 15) && mono_ns() >= until) {
            *why = GW_RUN_TIME;
            break;
        }
    }
    return total;
}

/* ---- lifecycle and views ------------------------------------------------- */

/* Records must hold the worst case of one maximal frame; the default keeps
 * the buffer (8192 x 176 bytes) inside a typical L2 cache. */
#define GW_MIN_RECORDS (65535 / GW_MIN_ITCH_BLOCK + 1)
#define GW_DEFAULT_RECORDS 8192
#define GW_DEFAULT_HOLD_MESSAGES 65536
#define GW_DEFAULT_HOLD_BYTES (4u << 20)

int gw_decoder_open(struct gw_decoder **out, const struct gw_decoder_config *cfg)
{
    int err;
    struct gw_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->flags = cfg ? cfg->flags : 0;
    d->cap = cfg && cfg->record_capacity ? cfg->record_capacity : GW_DEFAULT_RECORDS;
    if (d->cap < GW_MIN_RECORDS)
        d->cap = GW_MIN_RECORDS;
    if (d->flags & GW_DEC_RECORDS) {
        d->rec = calloc(d->cap, sizeof(*d->rec));
        if (!d->rec) {
            err = -ENOMEM;
            goto out_free;
        }
    }
    if (d->flags & GW_DEC_HOLD_GAPS) {
        /* Records are reserved per frame; draining the gap buffer can
         * apply thousands of messages in one frame. */
        err = GW_ECONFIG;
        if (d->flags & GW_DEC_RECORDS)
            goto out_free;
        uint64_t slots = cfg->hold_messages ? cfg->hold_messages : GW_DEFAULT_HOLD_MESSAGES;
        uint64_t bytes = cfg->hold_bytes ? cfg->hold_bytes : GW_DEFAULT_HOLD_BYTES;
        if (slots > (1u << 30) || bytes > 0xFFFFFFFFu)
            goto out_free;
        uint64_t p2 = 1;
        while (p2 < slots)
            p2 <<= 1;
        err = -ENOMEM;
        d->hold = calloc(p2, sizeof(*d->hold));
        d->arena = malloc(bytes);
        if (!d->hold || !d->arena)
            goto out_free;
        d->hmask = p2 - 1;
        d->arena_size = (uint32_t)bytes;
        d->join_gap = cfg->join_gap;
    }
    memset(d->want, 1, sizeof(d->want));
    *out = d;
    return 0;
out_free:
    free(d->hold);
    free(d->arena);
    free(d->rec);
    free(d);
    return err;
}

void gw_decoder_close(struct gw_decoder *d)
{
    if (!d)
        return;
    free(d->rec);
    free(d->hold);
    free(d->arena);
    free(d);
}

int gw_decoder_set_types(struct gw_decoder *d, const char *types)
{
    if (!types || !*types) {
        memset(d->want, 1, sizeof(d->want));
        return 0;
    }
    for (const char *t = types; *t; t++)
        if (*t != ',' && gw_itch_desc[(uint8_t)*t].size == 0)
            return GW_ECONFIG;
    memset(d->want, 0, sizeof(d->want));
    for (const char *t = types; *t; t++)
        if (*t != ',')
            d->want[(uint8_t)*t] = 1;
    return 0;
}

const struct gw_itch_record *gw_decoder_records(const struct gw_decoder *d, uint32_t *n)
{
    *n = d->nrec;
    return d->rec;
}

void gw_decoder_drain(struct gw_decoder *d) { d->nrec = 0; }

const struct gw_decoder_stats *gw_decoder_stats(const struct gw_decoder *d) { return &d->st; }

const struct gw_mold_session *gw_decoder_sessions(const struct gw_decoder *d, uint32_t *n)
{
    *n = d->nsessions;
    return d->sessions;
}

const struct gw_gap *gw_decoder_gaps(const struct gw_decoder *d, uint32_t *n)
{
    *n = d->ngaps;
    return d->gaps;
}

int gw_decoder_set_destinations(struct gw_decoder *d, const struct gw_destination *dst, uint32_t n)
{
    if (n > GW_MAX_DESTINATIONS)
        return GW_ECONFIG;
    memcpy(d->dest, dst, n * sizeof(*dst));
    d->ndest = n;
    return 0;
}

const struct gw_line_stats *gw_decoder_lines(const struct gw_decoder *d, uint32_t *n)
{
    *n = GW_MAX_LINES;
    return d->lines;
}

uint32_t gw_decoder_missing(const struct gw_decoder *d, struct gw_missing *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint16_t si = 0; si < d->nsessions && n < max; si++) {
        const struct gw_mold_session *s = &d->sessions[si];
        uint64_t q = s->next_seq, end = s->known_end;
        int mine = d->nheld && d->hold_session == si;
        uint64_t lim = q + d->hmask + 1; /* held messages lie below it */
        while (q < end && n < max) {
            struct gw_decoder *dd = (struct gw_decoder *)d; /* held_at only reads */
            if (mine && q < lim && held_at(dd, q)) {
                q++;
                continue;
            }
            uint64_t r = q + 1;
            if (mine)
                while (r < end && r < lim && !held_at(dd, r))
                    r++;
            if (!mine || r == lim)
                r = end;
            out[n].first = q;
            out[n].count = r - q;
            out[n].since_ns = s->gap_since_ns;
            out[n].session = si;
            memset(out[n]._pad, 0, sizeof(out[n]._pad));
            n++;
            q = r;
        }
    }
    return n;
}

int64_t gw_decoder_give_up(struct gw_decoder *d, uint16_t session, uint64_t upto, int64_t now_ns)
{
    if (session >= d->nsessions)
        return GW_ECONFIG;
    struct gw_mold_session *s = &d->sessions[session];
    if (!upto || upto > s->known_end)
        upto = s->known_end;
    return (int64_t)give_up_to(d, s, session, upto, now_ns, 0xFFFF);
}

uint64_t gw_itch_digest_of(const uint8_t *msg, uint32_t len)
{
    return len >= GW_ITCH_HEADER_SIZE ? gw_itch_digest(msg) : 0;
}

int gw_decoder_attach_books(struct gw_decoder *d, struct gw_books *b)
{
    d->books = b;
    return 0;
}

void gw_decoder_stop_after(struct gw_decoder *d, uint64_t seq, int64_t exch_ns)
{
    d->stop_armed = seq != 0 || exch_ns >= 0;
    d->stop_seq = seq;
    d->stop_ns = exch_ns;
    d->stopped = 0;
}
