/* The files a campaign reads besides its model and data (campaign.h, campaign_input_t):
 * which ones, their checksums now, and whether a finished campaign's results still match
 * them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/campaign.h"
#include "upset/fnv.h"
#include "upset/results.h"

int campaign_inputs(const campaign_t *c, campaign_input_t *out)
{
    int n = 0;
    if (c->kind == CAMPAIGN_GUIDED && c->guided.order == GUIDED_ORDER_RANKING && c->guided.ranking)
        out[n++] = (campaign_input_t){"guided.ranking", "guided_ranking_checksum_fnv1a64",
                                      c->guided.ranking};
    if (c->kind == CAMPAIGN_MULTIBIT) {
        const protection_t p = c->multibit.protection;
        if (p == PROTECT_LIST && c->multibit.protect_list)
            out[n++] = (campaign_input_t){"multibit.protect_list",
                                          "multibit_protect_list_checksum_fnv1a64",
                                          c->multibit.protect_list};
        else if (p != PROTECT_NONE && p != PROTECT_ALL && p != PROTECT_LIST && c->multibit.oracle)
            out[n++] = (campaign_input_t){"multibit.oracle", "multibit_oracle_checksum_fnv1a64",
                                          c->multibit.oracle};
    }
    return n;
}

int campaign_input_checksum(const campaign_input_t *in, char hex[17], upset_err_t *err)
{
    uint64_t h = FNV1A64_INIT;
    if (fnv1a64_file(in->path, &h))
        return upset_fail(err, "%s: cannot read %s: %s", in->key, in->path, strerror(errno));
    memcpy(hex, fnv_hex(h).s, 17);
    return 0;
}

static int input_verify(const char *results, const campaign_input_t *in, upset_err_t *err)
{
    char *stored = NULL, now[17];
    upset_err_t none = {""};
    if (results_read_attr_string(results, in->attr, &stored, &none))
        return 0; /* written before upset recorded it: nothing to compare */
    int rc = campaign_input_checksum(in, now, err);
    if (!rc && strcmp(stored, now))
        rc = upset_fail(err,
                        "%s: %s %s has changed since the campaign ran (checksum %s then, %s "
                        "now): what is rebuilt from it would not be what the campaign used",
                        results, in->key, in->path, stored, now);
    free(stored);
    return rc ? -1 : 0;
}

int campaign_inputs_verify(const char *results, const campaign_t *c, upset_err_t *err)
{
    campaign_input_t in[CAMPAIGN_MAX_INPUTS];
    const int n = campaign_inputs(c, in);
    for (int i = 0; i < n; i++)
        if (input_verify(results, &in[i], err))
            return -1;
    return 0;
}
