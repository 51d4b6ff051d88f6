/*
 * core.c -- what every part of the C core shares: error names, reason
 * names, the one clock, and the source dispatch.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gw/gw.h"
#include "source.h"

const char *gw_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case GW_EFORMAT: return "input is not in a format the gateway reads";
    case GW_EFILTER: return "filter expression does not compile";
    case GW_EPCAP: return "libpcap error";
    case GW_EGZIP: return "gzip stream is corrupt";
    case GW_ETRUNC: return "input ends inside a record";
    case GW_ECONFIG: return "invalid configuration value";
    default: return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

static const char *const reason_names[GW_R__COUNT] = {
    [GW_R_SHORT_FRAME] = "short_frame",
    [GW_R_ARP] = "arp",
    [GW_R_IPV6] = "ipv6",
    [GW_R_OTHER_ETHERTYPE] = "other_ethertype",
    [GW_R_VLAN_TOO_DEEP] = "vlan_too_deep",
    [GW_R_BAD_IP_HEADER] = "bad_ip_header",
    [GW_R_IP_FRAGMENT] = "ip_fragment",
    [GW_R_TCP] = "tcp",
    [GW_R_OTHER_IP_PROTOCOL] = "other_ip_protocol",
    [GW_R_BAD_UDP_HEADER] = "bad_udp_header",
    [GW_R_IP_CHECKSUM] = "ip_checksum",
    [GW_R_UDP_CHECKSUM] = "udp_checksum",
    [GW_R_UNKNOWN_LINKTYPE] = "unknown_linktype",
    [GW_R_SNAPPED] = "snapped",
    [GW_R_MOLD_SHORT] = "mold_short",
    [GW_R_MOLD_COUNT_OVERRUN] = "mold_count_overrun",
    [GW_R_MOLD_LENGTH_OVERRUN] = "mold_length_overrun",
    [GW_R_MOLD_TRAILING_BYTES] = "mold_trailing_bytes",
    [GW_R_MOLD_DUPLICATE] = "mold_duplicate",
    [GW_R_MOLD_SESSIONS_FULL] = "mold_sessions_full",
    [GW_R_ITCH_EMPTY] = "itch_empty",
    [GW_R_ITCH_UNKNOWN_TYPE] = "itch_unknown_type",
    [GW_R_ITCH_TRUNCATED] = "itch_truncated",
    [GW_R_ITCH_LONGER] = "itch_longer",
    [GW_R_BINFILE_ZERO_LENGTH] = "binfile_zero_length",
    [GW_R_BINFILE_LENGTH_MISMATCH] = "binfile_length_mismatch",
    [GW_R_BINFILE_UNFRAMEABLE] = "binfile_unframeable",
    [GW_R_TRUNCATED_RECORD] = "truncated_record",
    [GW_R_FILTERED] = "filtered",
    [GW_R_OVERSIZED_FRAME] = "oversized_frame",
    [GW_R_MOLD_HOLD_FULL] = "mold_hold_full",
    [GW_R_MOLD_LATE_JOIN] = "mold_late_join",
    [GW_R_OTHER_DESTINATION] = "other_destination",
};

const char *gw_reason_name(int reason)
{
    if (reason < 0 || reason >= GW_R__COUNT || !reason_names[reason])
        return "unknown_reason";
    return reason_names[reason];
}

int64_t gw_clock_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int gw_source_next(struct gw_source *src, struct gw_frame *frames, uint32_t max)
{
    return src->next(src, frames, max);
}

const struct gw_source_info *gw_source_info(const struct gw_source *src) { return &src->info; }

void gw_source_close(struct gw_source *src)
{
    if (src)
        src->close(src);
}

int gw_open_regular(const char *path, uint64_t *size, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}
