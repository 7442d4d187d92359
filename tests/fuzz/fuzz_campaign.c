/* Campaign YAML: load, validate, dump and reload, serialize round trip. */
#include <stdlib.h>
#include <string.h>

#include "upset/campaign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    campaign_t c, d;
    upset_err_t err = {{0}};
    campaign_defaults(&c);
    if (campaign_load_yaml_string(&c, (const char *)data, n, "fuzz.yaml", &err) == 0 &&
        campaign_validate(&c, &err) == 0) {
        char *yaml = NULL;
        unsigned char *buf = NULL;
        size_t len = 0;
        /* what upset writes must read back as the same campaign */
        if (campaign_dump(&c, &yaml, &err) == 0) {
            campaign_defaults(&d);
            if (campaign_load_yaml_string(&d, yaml, strlen(yaml), "dump", &err) ||
                campaign_validate(&d, &err) || !campaign_equal(&c, &d))
                abort();
            campaign_free(&d);
        }
        if (campaign_serialize(&c, &buf, &len, &err) == 0) {
            campaign_defaults(&d);
            if (campaign_deserialize(&d, buf, len, &err) || !campaign_equal(&c, &d))
                abort();
            campaign_free(&d);
        }
        free(yaml);
        free(buf);
    }
    campaign_free(&c);
    return 0;
}
