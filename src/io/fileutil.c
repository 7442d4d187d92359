/* Small file-system helpers shared by the writers of results, checkpoints and rankings. */
#include "upset/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Best effort: makes the rename itself durable; some file systems refuse. */
void fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Exists, readable or not: the callers guard an output against being overwritten, and a
 * results file this user cannot read (another's, mode 0600, in a shared directory) is
 * still there to be replaced by the rename. */
int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int file_check_input(const char *path, const char *what, upset_err_t *err)
{
    struct stat st;
    int e = stat(path, &st) != 0 ? errno : access(path, R_OK) != 0 ? errno : 0;
    if (e) {
        char cwd[4096];
        if (path[0] != '/' && getcwd(cwd, sizeof cwd))
            return upset_fail(err, "%s: cannot open %s: %s (relative to %s)", path, what,
                              strerror(e), cwd);
        return upset_fail(err, "%s: cannot open %s: %s", path, what, strerror(e));
    }
    if (S_ISDIR(st.st_mode))
        return upset_fail(err, "%s: is a directory, not %s", path, what);
    if (!S_ISREG(st.st_mode))
        return upset_fail(err, "%s: is not a regular file (%s expected)", path, what);
    return 0;
}

int file_mkdirs(const char *path, upset_err_t *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return upset_fail(err, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        const int end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            struct stat st;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return upset_fail(err, "%s: cannot create the directory %s: %s", path, buf,
                                  strerror(errno));
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return upset_fail(err, "%s: %s exists and is not a directory", path, buf);
            if (end)
                return 0;
            *p = '/';
        }
    }
}

int file_commit(const char *tmp, const char *path, upset_err_t *err)
{
    if (rename(tmp, path) != 0) {
        const int e = errno;
        unlink(tmp);
        return upset_fail(err, "%s: cannot rename %s to it: %s", path, tmp, strerror(e));
    }
    fsync_dir_of(path);
    return 0;
}

int file_replace(const char *path, const void *buf, size_t len, upset_err_t *err)
{
    const size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp)
        return upset_fail(err, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp", path);
    const int rc = file_write_all(tmp, buf, len, err) || file_commit(tmp, path, err) ? -1 : 0;
    free(tmp);
    return rc;
}

int file_write_all(const char *path, const void *buf, size_t len, upset_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return upset_fail(err, "%s: cannot create: %s", path, strerror(errno));
    const char *p = buf;
    size_t left = len;
    int e = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC; /* write() returning 0 for a regular file: no room */
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0 && errno != EINVAL) /* EINVAL: a special file such as /dev/null */
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e)
        return 0;
    unlink(path);
    if (left > 0)
        return upset_fail(err, "%s: write failed: %s (%zu of %zu bytes not written)", path,
                          strerror(e), left, len);
    return upset_fail(err, "%s: write failed: %s", path, strerror(e));
}

int file_trylock(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

/* What the holder wrote into the lock file, for the refusal message. */
static void read_holder(const char *path, char *out, size_t len)
{
    snprintf(out, len, "another process");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            snprintf(out, len, "%s", line);
    }
    fclose(f);
}

int file_lock_output(const char *output, file_lock_t *lock, upset_err_t *err)
{
    lock->fd = -1;
    if (snprintf(lock->path, sizeof lock->path, "%s.lock", output) >= (int)sizeof lock->path)
        return upset_fail(err, "%s: path too long", output);
    /* A holder removes the file on release; whoever locked the removed inode retries. */
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(lock->path, O_RDWR | O_CREAT, 0644);
        if (fd < 0)
            return upset_fail(err, "%s: cannot create the output lock %s: %s", output, lock->path,
                              strerror(errno));
        int e = file_trylock(fd);
        if (e) {
            close(fd);
            if (e != EACCES && e != EAGAIN)
                return upset_fail(err, "%s: cannot lock %s: %s", output, lock->path, strerror(e));
            char holder[512];
            read_holder(lock->path, holder, sizeof holder);
            return upset_fail(err,
                              "%s: another run is writing this output (%s; lock %s); wait for "
                              "it to finish or choose another output",
                              output, holder, lock->path);
        }
        struct stat a, b;
        if (fstat(fd, &a) != 0 || stat(lock->path, &b) != 0 || a.st_ino != b.st_ino ||
            a.st_dev != b.st_dev) {
            close(fd); /* released and removed by its holder meanwhile */
            continue;
        }
        char host[256] = "?", when[64] = "?";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        time_t now = time(NULL);
        struct tm tm;
        if (gmtime_r(&now, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        char info[512];
        int n = snprintf(info, sizeof info, "pid %ld on %s since %s\n", (long)getpid(), host, when);
        if (ftruncate(fd, 0) != 0 || write(fd, info, (size_t)n) != n) {
            /* the lock holds without its note; only the refusal message is poorer */
        }
        lock->fd = fd;
        return 0;
    }
    return upset_fail(err, "%s: the output lock %s keeps changing hands", output, lock->path);
}

void file_unlock(file_lock_t *lock)
{
    if (lock->fd < 0)
        return;
    unlink(lock->path); /* while still held: a waiting opener sees the inode change */
    close(lock->fd);
    lock->fd = -1;
}
