/* Checkpoint file: atomic save, verified load (format in docs/results-format.md).
 *
 *   offset  size  field
 *        0     8  magic "UPSETCKP"
 *        8     4  version (1)
 *       12     4  byte-order mark 0x01020304 as written by the host
 *       16     8  fingerprint length F (bytes, no terminator)
 *       24     8  n_items
 *       32     8  record_size
 *       40     8  n_done
 *       48     F  fingerprint
 *        .     B  done bitmap, B = ceil(n_items / 8), item i = bit (i % 8) of byte i / 8
 *        .     R  records of the done items in item order, R = n_done * record_size
 *        .     8  FNV-1a 64 of every byte before it
 * The header integers are host order (hence the byte-order mark); the size of
 * the file follows from the header, so truncation is told apart from damage. */
#include "upset/checkpoint.h"
#include "upset/fileutil.h"
#include "upset/fnv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAGIC "UPSETCKP"
#define CKPT_VERSION 1u
#define CKPT_BOM 0x01020304u
#define CKPT_HEADER 48

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t bom;
    uint64_t fingerprint_len;
    uint64_t n_items;
    uint64_t record_size;
    uint64_t n_done;
} ckpt_header_t;

_Static_assert(sizeof(ckpt_header_t) == CKPT_HEADER, "checkpoint header must be packed");

int checkpoint_path(const char *output, char *buf, size_t len, upset_err_t *err)
{
    int n = snprintf(buf, len, "%s.ckpt", output);
    if (n < 0 || (size_t)n >= len)
        return upset_fail(err, "checkpoint path for '%s' is too long", output);
    return 0;
}

int checkpoint_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------ save -- */

/* Buffered writer that checksums everything it writes. */
typedef struct {
    int fd;
    const char *path;
    uint64_t hash;
    size_t used;
    unsigned char buf[1 << 16];
} writer_t;

static int write_all(int fd, const void *data, size_t len, const char *path, upset_err_t *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return upset_fail(err, "checkpoint %s: write failed: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int w_flush(writer_t *w, upset_err_t *err)
{
    int rc = write_all(w->fd, w->buf, w->used, w->path, err);
    w->used = 0;
    return rc;
}

static int w_put(writer_t *w, const void *data, size_t len, upset_err_t *err)
{
    w->hash = fnv1a64(w->hash, data, len);
    const unsigned char *p = data;
    while (len > 0) {
        size_t room = sizeof w->buf - w->used;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == sizeof w->buf && w_flush(w, err))
            return -1;
    }
    return 0;
}

static int w_payload(writer_t *w, const char *fingerprint, int64_t n_items, size_t record_size,
                     const uint8_t *done, const void *records, upset_err_t *err)
{
    ckpt_header_t h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.bom = CKPT_BOM;
    h.fingerprint_len = strlen(fingerprint);
    h.n_items = (uint64_t)n_items;
    h.record_size = record_size;
    for (int64_t i = 0; i < n_items; i++)
        h.n_done += done[i] != 0;
    if (w_put(w, &h, sizeof h, err) || w_put(w, fingerprint, h.fingerprint_len, err))
        return -1;
    for (int64_t i = 0; i < n_items; i += 8) {
        unsigned char byte = 0;
        for (int b = 0; b < 8 && i + b < n_items; b++)
            byte |= (unsigned char)((done[i + b] != 0) << b);
        if (w_put(w, &byte, 1, err))
            return -1;
    }
    /* Records in runs of consecutive done items, one w_put per run. */
    const unsigned char *rec = records;
    for (int64_t i = 0; i < n_items;) {
        if (!done[i]) {
            i++;
            continue;
        }
        int64_t j = i;
        while (j < n_items && done[j])
            j++;
        if (w_put(w, rec + (size_t)i * record_size, (size_t)(j - i) * record_size, err))
            return -1;
        i = j;
    }
    uint64_t sum = w->hash;
    return w_put(w, &sum, sizeof sum, err) || w_flush(w, err) ? -1 : 0;
}

/* Opens path.tmp for writing under an exclusive lock. The lock goes away with
 * its process, so a .tmp left by a killed run is simply reused; the inode check
 * catches the race where another writer renamed the file we opened. */
static int open_tmp_locked(const char *tmp, upset_err_t *err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        return upset_fail(err, "checkpoint %s: cannot create: %s", tmp, strerror(errno));
    int e = file_trylock(fd);
    if (e) {
        close(fd);
        if (e == EACCES || e == EAGAIN)
            return upset_fail(err,
                              "checkpoint %s: another process is writing this checkpoint "
                              "(a second run with the same output?)",
                              tmp);
        return upset_fail(err, "checkpoint %s: cannot lock: %s", tmp, strerror(e));
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(tmp, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);
        return upset_fail(err, "checkpoint %s: another process replaced the file while it was "
                               "being opened (a second run with the same output?)",
                          tmp);
    }
    if (ftruncate(fd, 0) != 0) {
        int e = errno;
        close(fd);
        return upset_fail(err, "checkpoint %s: cannot truncate: %s", tmp, strerror(e));
    }
    return fd;
}

int checkpoint_save(const char *path, const char *fingerprint, int64_t n_items,
                    size_t record_size, const uint8_t *done, const void *records,
                    upset_err_t *err)
{
    if (n_items < 0 || record_size == 0 || !fingerprint || (n_items > 0 && (!done || !records)))
        return upset_fail(err, "checkpoint %s: invalid arguments (n_items %lld, record_size %zu)",
                          path, (long long)n_items, record_size);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return upset_fail(err, "checkpoint path '%s' is too long", path);
    writer_t *w = malloc(sizeof *w);
    if (!w)
        return upset_fail(err, "checkpoint %s: out of memory", path);
    w->fd = open_tmp_locked(tmp, err);
    w->path = tmp;
    w->hash = FNV1A64_INIT;
    w->used = 0;
    if (w->fd < 0) {
        free(w);
        return -1;
    }
    int rc = w_payload(w, fingerprint, n_items, record_size, done, records, err);
    if (rc == 0 && fsync(w->fd) != 0)
        rc = upset_fail(err, "checkpoint %s: fsync failed: %s", tmp, strerror(errno));
    /* Rename while still holding the lock, so no writer can slip in between. */
    if (rc == 0)
        rc = file_commit(tmp, path, err);
    else
        unlink(tmp);
    close(w->fd);
    free(w);
    return rc;
}

int checkpoint_sched_hook(void *ctx, const sched_job_t *job, upset_err_t *err)
{
    checkpoint_hook_t *hook = ctx;
    if (checkpoint_save(hook->path, hook->fingerprint, job->n_items, job->record_size, job->done,
                        job->records, err))
        return -1;
    hook->saves++;
    return 0;
}

int checkpoint_remove(const char *path, upset_err_t *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return upset_fail(err, "checkpoint path '%s' is too long", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return upset_fail(err, "checkpoint %s: cannot remove: %s", path, strerror(errno));
    unlink(tmp); /* a stale one from a killed save; absence is fine */
    fsync_dir_of(path);
    return 0;
}

/* ------------------------------------------------------------------ load -- */

static int read_file(const char *path, unsigned char **data, size_t *len, upset_err_t *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return upset_fail(err, "checkpoint %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return upset_fail(err, "checkpoint %s: cannot stat: %s", path, strerror(e));
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return upset_fail(err, "checkpoint %s: out of memory for %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(p);
            close(fd);
            return upset_fail(err, "checkpoint %s: read failed: %s", path,
                              r < 0 ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    *data = p;
    *len = n;
    return 0;
}

static uint64_t popcount_bitmap(const unsigned char *bits, uint64_t n_items)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < n_items; i++)
        n += (bits[i / 8] >> (i % 8)) & 1u;
    return n;
}

/* Expected file size from a header, or 0 when the header's numbers overflow. */
static uint64_t expected_size(const ckpt_header_t *h)
{
    const uint64_t lim = UINT64_C(1) << 60;
    if (h->fingerprint_len > lim || h->n_items > lim || h->record_size > lim ||
        h->n_done > h->n_items || (h->record_size && h->n_done > lim / h->record_size))
        return 0;
    return CKPT_HEADER + h->fingerprint_len + (h->n_items + 7) / 8 + h->n_done * h->record_size +
           8;
}

/* The structural checks: magic, version, byte order, size, checksum. */
static int verify(const char *path, const unsigned char *data, size_t len, ckpt_header_t *h,
                  upset_err_t *err)
{
    if (len < CKPT_HEADER + 8)
        return upset_fail(err, "checkpoint %s: truncated (%zu bytes, shorter than a header)", path,
                          len);
    memcpy(h, data, sizeof *h);
    if (memcmp(h->magic, CKPT_MAGIC, 8) != 0)
        return upset_fail(err, "checkpoint %s: not an upset checkpoint (bad magic)", path);
    if (h->bom != CKPT_BOM)
        return upset_fail(err, "checkpoint %s: written on a machine of another byte order", path);
    if (h->version != CKPT_VERSION)
        return upset_fail(err, "checkpoint %s: format version %u, this build reads %u", path,
                          h->version, CKPT_VERSION);
    uint64_t want = expected_size(h);
    if (want == 0)
        return upset_fail(err, "checkpoint %s: corrupt header (impossible sizes)", path);
    if (len < want)
        return upset_fail(err, "checkpoint %s: truncated (%zu bytes, header promises %llu)", path,
                          len, (unsigned long long)want);
    if (len > want)
        return upset_fail(err, "checkpoint %s: corrupt (%zu bytes, header promises %llu)", path,
                          len, (unsigned long long)want);
    uint64_t stored;
    memcpy(&stored, data + len - 8, 8);
    if (fnv1a64(FNV1A64_INIT, data, len - 8) != stored)
        return upset_fail(err, "checkpoint %s: corrupt (checksum mismatch); delete it to start "
                               "over",
                          path);
    const unsigned char *bits = data + CKPT_HEADER + h->fingerprint_len;
    if (popcount_bitmap(bits, h->n_items) != h->n_done)
        return upset_fail(err, "checkpoint %s: corrupt (done bitmap disagrees with n_done)", path);
    return 0;
}

/* Names the first line where two fingerprints differ. */
static int fingerprint_mismatch(const char *path, const char *old, size_t old_len,
                                const char *cur, upset_err_t *err)
{
    size_t cur_len = strlen(cur);
    size_t i = 0, line = 1, line_start = 0;
    while (i < old_len && i < cur_len && old[i] == cur[i]) {
        if (old[i] == '\n') {
            line++;
            line_start = i + 1;
        }
        i++;
    }
    const char *a = old + line_start, *b = cur + line_start;
    /* old is the file's bytes, with no terminator: its line ends at a newline or at old_len
     * (strcspn ran on through the bitmap and records, past the buffer where none of them
     * was a newline or a zero, when old was a prefix of cur) */
    const char *nl = memchr(a, '\n', old_len - line_start);
    int alen = nl ? (int)(nl - a) : (int)(old_len - line_start), blen = (int)strcspn(b, "\n");
    alen = alen > 120 ? 120 : alen;
    blen = blen > 120 ? 120 : blen;
    return upset_fail(err,
                      "checkpoint %s belongs to a different campaign: fingerprint line %zu "
                      "differs (checkpoint: '%.*s', this run: '%.*s'); delete the checkpoint, or "
                      "start over with --force instead of --resume",
                      path, line, alen, a, blen, b);
}

int checkpoint_load(const char *path, const char *fingerprint, int64_t n_items,
                    size_t record_size, uint8_t *done, void *records, int64_t *n_done,
                    upset_err_t *err)
{
    if (n_items > 0)
        memset(done, 0, (size_t)n_items);
    if (n_done)
        *n_done = 0;
    unsigned char *data = NULL;
    size_t len = 0;
    if (read_file(path, &data, &len, err))
        return -1;
    ckpt_header_t h;
    int rc = verify(path, data, len, &h, err);
    const char *fp = (const char *)data + CKPT_HEADER;
    if (rc == 0 && (h.fingerprint_len != strlen(fingerprint) ||
                    memcmp(fp, fingerprint, h.fingerprint_len) != 0))
        rc = fingerprint_mismatch(path, fp, h.fingerprint_len, fingerprint, err);
    if (rc == 0 && h.n_items != (uint64_t)n_items)
        rc = upset_fail(err, "checkpoint %s has %llu items, this run has %lld", path,
                        (unsigned long long)h.n_items, (long long)n_items);
    if (rc == 0 && h.record_size != record_size)
        rc = upset_fail(err,
                        "checkpoint %s has %llu-byte records, this run %zu (another record "
                        "layout)",
                        path, (unsigned long long)h.record_size, record_size);
    if (rc == 0) {
        const unsigned char *bits = data + CKPT_HEADER + h.fingerprint_len;
        const unsigned char *rec = bits + (h.n_items + 7) / 8;
        for (int64_t i = 0; i < n_items; i++) {
            if (!((bits[i / 8] >> (i % 8)) & 1u))
                continue;
            done[i] = 1;
            memcpy((unsigned char *)records + (size_t)i * record_size, rec, record_size);
            rec += record_size;
        }
        if (n_done)
            *n_done = (int64_t)h.n_done;
    }
    free(data);
    return rc;
}
