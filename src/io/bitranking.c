/* Text bit rankings: one global bit index per line, '#' comments and blank lines
 * allowed (what `upset rank` writes and `guided` campaigns and `upset analyze` read). */
#include "upset/bitranking.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bit_ranking_read(const char *path, int64_t n_fault_bits, int64_t **bits, int64_t *n,
                     upset_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return upset_fail(err, "%s: cannot open ranking: %s", path, strerror(errno));
    int64_t cap = 4096, len = 0;
    int64_t *v = malloc((size_t)cap * sizeof *v);
    int rc = v ? 0 : upset_fail(err, "out of memory reading %s", path);
    /* every reader wants each bit once: a guided run would flip a repeat again, a protect
     * list count it twice */
    unsigned char *seen = rc ? NULL : upset_calloc((size_t)n_fault_bits, 1, err);
    if (!rc && !seen)
        rc = -1;
    char line[256];
    long lineno = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        /* fgets stops at a full buffer: the rest of a longer line is not a line of its own */
        const size_t got = strlen(line);
        const int cut = got == sizeof line - 1 && line[got - 1] != '\n' && !feof(f);
        char *p = line, *end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) {
            for (int ch = cut ? 0 : '\n'; ch != '\n' && ch != EOF;) /* a long comment */
                ch = fgetc(f);
            continue;
        }
        if (cut) {
            rc = upset_fail(err, "%s:%ld: line longer than %d characters, expected a bit index",
                            path, lineno, (int)sizeof line - 2);
            break;
        }
        errno = 0;
        long long b = strtoll(p, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (end == p || *end || errno) {
            rc = upset_fail(err, "%s:%ld: expected a bit index, got '%.40s'", path, lineno, p);
            break;
        }
        if (b < 0 || b >= n_fault_bits) {
            rc = upset_fail(err, "%s:%ld: bit %lld is outside the model's %lld faultable bits "
                                 "(a ranking of another model?)",
                            path, lineno, b, (long long)n_fault_bits);
            break;
        }
        if (seen[b]++) {
            rc = upset_fail(err, "%s: bit %lld is listed twice (again on line %ld; a list names "
                                 "each bit once)",
                            path, b, lineno);
            break;
        }
        if (len == cap) {
            int64_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) {
                rc = upset_fail(err, "out of memory reading %s", path);
                break;
            }
            v = nv;
        }
        v[len++] = b;
    }
    fclose(f);
    free(seen);
    if (!rc && len == 0)
        rc = upset_fail(err, "%s: the ranking is empty", path);
    if (rc) {
        free(v);
        return -1;
    }
    *bits = v;
    *n = len;
    return 0;
}
