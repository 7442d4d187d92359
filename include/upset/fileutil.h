#ifndef UPSET_FILEUTIL_H
#define UPSET_FILEUTIL_H

/* fsync()s the directory holding path, so a rename into it survives a crash (best effort). */
void fsync_dir_of(const char *path);

/* 1 when path can be opened for reading, else 0. */
int file_exists(const char *path);

#endif
