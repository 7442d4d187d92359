#ifndef UPSET_FILEUTIL_H
#define UPSET_FILEUTIL_H

#include <stddef.h>

#include "upset/error.h"

/* fsync()s the directory holding path, so a rename into it survives a crash (best effort). */
void fsync_dir_of(const char *path);

/* 1 when path exists (readable or not), else 0. */
int file_exists(const char *path);

/* 0 when path is a readable regular file; otherwise a message: "PATH: cannot open
 * WHAT: <system error> (relative to <cwd>)", or that it is a directory. */
int file_check_input(const char *path, const char *what, upset_err_t *err);

/* Creates directory path and any missing parents (like mkdir -p); 0 or -1 with the
 * system's reason. */
int file_mkdirs(const char *path, upset_err_t *err);

/* Writes len bytes to path (created or truncated) and fsyncs it. A short write
 * (ENOSPC, EDQUOT, EFBIG) ends in a message naming path, the system error and
 * the bytes that did not fit; path is then removed. */
int file_write_all(const char *path, const void *buf, size_t len, upset_err_t *err);

/* Renames tmp (written whole) over path and syncs the directory, so path is the old file or
 * the new one, never a part; on failure removes tmp. */
int file_commit(const char *tmp, const char *path, upset_err_t *err);

/* Replaces path whole with buf: path.tmp by file_write_all, then file_commit. */
int file_replace(const char *path, const void *buf, size_t len, upset_err_t *err);

/* An exclusive fcntl lock on the whole of fd, without waiting: 0, or the errno
 * (EACCES or EAGAIN when another process holds it). */
int file_trylock(int fd);

/* An exclusive lock on an output file, held for the whole run that writes it:
 * an fcntl lock on "<output>.lock", which holds who took it (pid, host, time).
 * The lock goes away with its process (kill -9 included); the lock file is
 * removed on release. */
typedef struct {
    int fd; /* -1 when not held */
    char path[4200];
} file_lock_t;

#define FILE_LOCK_INIT {-1, ""}

/* Takes the lock of output, or fails naming the run that holds it. */
int file_lock_output(const char *output, file_lock_t *lock, upset_err_t *err);

/* Releases a held lock (no-op otherwise). */
void file_unlock(file_lock_t *lock);

#endif
