/* The resolved campaign as YAML (every key of the top level, data and the kind's
 * section), which config_load.c reads back to an equal campaign. */
#include "config_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ------------------------------------------------------------------- dump */


typedef struct {
    char *buf;
    size_t len, cap;
} sink_t;

static int sink_write(void *data, unsigned char *bytes, size_t size)
{
    sink_t *s = data;
    if (s->len + size + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (s->len + size + 1 > cap)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, bytes, size);
    s->len += size;
    s->buf[s->len] = '\0';
    return 1;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int ok)
{
    return ok && yaml_emitter_emit(em, ev);
}

/* A scalar; strings that YAML would read as null are quoted so they stay strings. */
static int emit_scalar(yaml_emitter_t *em, const char *s, int is_string)
{
    yaml_event_t ev;
    int nullish = !s[0] || !strcmp(s, "~") || !strcasecmp(s, "null");
    yaml_scalar_style_t style = is_string && nullish ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                : is_string          ? YAML_ANY_SCALAR_STYLE
                                                     : YAML_PLAIN_SCALAR_STYLE;
    return emit(em, &ev,
                yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s,
                                             (int)strlen(s), 1, 1, style));
}

static int emit_map_start(yaml_emitter_t *em)
{
    yaml_event_t ev;
    return emit(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                             YAML_BLOCK_MAPPING_STYLE));
}

static int emit_map_end(yaml_emitter_t *em)
{
    yaml_event_t ev;
    return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

/* key: value for field f; optional strings and lists that are unset are left out. */
static int emit_field(yaml_emitter_t *em, const campaign_t *c, int f)
{
    char num[64];
    const char *val = num;
    switch (campaign_fields[f].type) {
    case T_STR:
        val = *CFIELD(c, f, char *);
        if (!val)
            return 1;
        return emit_scalar(em, campaign_fields[f].key, 0) && emit_scalar(em, val, 1);
    case T_LIST: {
        const campaign_strlist_t *l = CFIELD(c, f, campaign_strlist_t);
        if (l->n == 0)
            return 1;
        yaml_event_t ev;
        int ok = emit_scalar(em, campaign_fields[f].key, 0) &&
                 emit(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                                    YAML_FLOW_SEQUENCE_STYLE));
        for (int i = 0; ok && i < l->n; i++)
            ok = emit_scalar(em, l->v[i], 1);
        return ok && emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
    }
    case T_INT: snprintf(num, sizeof num, "%" PRId64, *CFIELD(c, f, int64_t)); break;
    case T_COUNT: {
        int64_t v = *CFIELD(c, f, int64_t);
        if (v == CAMPAIGN_COUNT_DEFAULT)
            return 1; /* format unknown: leave the default to the reader */
        if (v == CAMPAIGN_COUNT_ALL)
            val = "all";
        else
            snprintf(num, sizeof num, "%" PRId64, v);
        break;
    }
    case T_U64: snprintf(num, sizeof num, "%" PRIu64, *CFIELD(c, f, uint64_t)); break;
    case T_REAL: config_fmt_real(*CFIELD(c, f, double), num, sizeof num); break;
    case T_BOOL: val = *CFIELD(c, f, int) ? "true" : "false"; break;
    case T_ENUM: {
        int v = *CFIELD(c, f, int);
        if (v < 0)
            return 1;
        val = config_enum_name(campaign_fields[f].names, v);
        break;
    }
    }
    return emit_scalar(em, campaign_fields[f].key, 0) && emit_scalar(em, val, 0);
}

static int emit_section(yaml_emitter_t *em, const campaign_t *c, int sec)
{
    int ok = emit_scalar(em, campaign_sec_names[sec], 0) && emit_map_start(em);
    for (int f = 0; ok && f < F_COUNT; f++)
        if (campaign_fields[f].sec == sec)
            ok = emit_field(em, c, f);
    return ok && emit_map_end(em);
}

static int emit_campaign(yaml_emitter_t *em, const campaign_t *c)
{
    yaml_event_t ev;
    int ok = emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
             emit(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
             emit_map_start(em);
    int data_done = 0;
    for (int f = 0; ok && f < F_COUNT; f++) {
        if (campaign_fields[f].sec == SEC_TOP) {
            ok = emit_field(em, c, f);
        } else if (campaign_fields[f].sec == SEC_DATA && !data_done) {
            ok = emit_section(em, c, SEC_DATA);
            data_done = 1;
        }
    }
    for (int s = 1; ok && s < SEC_COUNT; s++)
        if (campaign_sec_kind[s] >= 0 && campaign_sec_kind[s] == (int)c->kind)
            ok = emit_section(em, c, s);
    return ok && emit_map_end(em) &&
           emit(em, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
           emit(em, &ev, yaml_stream_end_event_initialize(&ev));
}

int campaign_dump(const campaign_t *c, char **yaml_out, upset_err_t *err)
{
    sink_t s = {NULL, 0, 0};
    const char *head = "# upset campaign, resolved (every default written out)\n";
    yaml_emitter_t em;
    *yaml_out = NULL;
    if (!sink_write(&s, (unsigned char *)head, strlen(head)) || !yaml_emitter_initialize(&em)) {
        free(s.buf);
        return upset_fail(err, "out of memory");
    }
    yaml_emitter_set_output(&em, sink_write, &s);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* never fold long paths */
    int ok = emit_campaign(&em, c) && yaml_emitter_flush(&em);
    if (!ok) /* libyaml's reason when the emitter has one; event set-up fails on memory */
        upset_fail(err, "cannot write the campaign as YAML (it is stored with the results): %s",
                   em.problem ? em.problem : "out of memory, or a value that is not UTF-8");
    yaml_emitter_delete(&em);
    if (!ok) {
        free(s.buf);
        return -1;
    }
    *yaml_out = s.buf;
    return 0;
}
