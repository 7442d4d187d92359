/* Exact EMD by the network simplex on the transportation graph (see upset/emd.h).
 *
 * Nodes: sources 0..n-1, sinks n..n+m-1 (compact indexing, zero cells removed) and, for the
 * big-M start only, an artificial root n+m. The basis is a spanning tree kept as parent
 * pointers with doubly linked child lists; flow[v] and the arc cost belong to the arc between v
 * and its parent. Transport arcs run source -> sink, so an arc points up (towards the root)
 * exactly when its child end is a source: orientation never needs storing. Duals: pot[] holds
 * u_i for sources and v_j for sinks, reduced cost rc(i,j) = c_ij - u_i - v_j. */
#include "upset/emd.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Rows scanned per pricing block reach at least this many arcs (tuned on 48 x 48 hex costs). */
#define PRICE_BLOCK 64

struct emd_workspace {
    int nmax, mmax;
    int on, om;          /* caller's sizes of the last solve */
    int n, m, nn;        /* compact sizes, nn = n + m real nodes */
    int root;            /* a real sink, or nn for the artificial star */
    int big_sink;        /* the sink with the most mass */
    int star;            /* 1: node nn and its big-M arcs are in use */
    int have_plan;
    int next_row;        /* where block pricing resumes */
    double big_m, tol, ftol;
    int *rows, *cols;    /* compact -> caller index */
    int *rmap, *cmap;    /* caller -> compact index, -1 for a zero cell */
    double *c;           /* n x m compact costs */
    double *supply;      /* a_i for sources, -b_j for sinks */
    int *parent, *depth, *first, *next, *prev;
    double *flow, *pot;
    /* scratch */
    int *stack, *order, *mark, *uf, *adj_start, *adj;
    int *arc_s, *arc_t;
    double *arc_f, *sub, *key;
    int *remk;
    emd_stats_t st;
};

/* ---- workspace and basis ---------------------------------------------------------------- */

emd_workspace_t *emd_workspace_create(int nmax, int mmax, upset_err_t *err)
{
    if (nmax < 1 || mmax < 1 || nmax > EMD_DIM_MAX || mmax > EMD_DIM_MAX) {
        upset_fail(err, "EMD workspace: sizes %d x %d outside 1..%d", nmax, mmax, EMD_DIM_MAX);
        return NULL;
    }
    emd_workspace_t *ws = upset_calloc(1, sizeof *ws, err);
    if (!ws)
        return NULL;
    ws->nmax = nmax;
    ws->mmax = mmax;
    size_t nodes = (size_t)nmax + (size_t)mmax + 1;
    int ok = 1;
#define GET(p, count) ok = ok && ((p) = upset_calloc((count), sizeof *(p), err)) != NULL
    GET(ws->rows, nmax);
    GET(ws->cols, mmax);
    GET(ws->rmap, nmax);
    GET(ws->cmap, mmax);
    GET(ws->c, (size_t)nmax * (size_t)mmax);
    GET(ws->supply, nodes);
    GET(ws->parent, nodes);
    GET(ws->depth, nodes);
    GET(ws->first, nodes);
    GET(ws->next, nodes);
    GET(ws->prev, nodes);
    GET(ws->flow, nodes);
    GET(ws->pot, nodes);
    GET(ws->stack, nodes);
    GET(ws->order, nodes);
    GET(ws->mark, nodes);
    GET(ws->uf, nodes);
    GET(ws->adj_start, nodes + 1);
    GET(ws->adj, 2 * nodes);
    GET(ws->arc_s, nodes);
    GET(ws->arc_t, nodes);
    GET(ws->arc_f, nodes);
    GET(ws->sub, nodes);
    GET(ws->key, nodes);
    GET(ws->remk, nodes);
#undef GET
    if (!ok) {
        emd_workspace_free(ws);
        return NULL;
    }
    return ws;
}

void emd_workspace_free(emd_workspace_t *ws)
{
    if (!ws)
        return;
    void *p[] = {ws->rows,  ws->cols,  ws->rmap,   ws->cmap,  ws->c,     ws->supply,
                 ws->parent, ws->depth, ws->first, ws->next,  ws->prev,  ws->flow,
                 ws->pot,    ws->stack, ws->order, ws->mark,  ws->uf,    ws->adj_start,
                 ws->adj,    ws->arc_s, ws->arc_t, ws->arc_f, ws->sub,   ws->key,   ws->remk};
    for (size_t k = 0; k < sizeof p / sizeof *p; k++)
        free(p[k]);
    free(ws);
}

emd_stats_t emd_last_stats(const emd_workspace_t *ws) { return ws->st; }

emd_basis_t *emd_basis_create(int nmax, int mmax, upset_err_t *err)
{
    if (nmax < 1 || mmax < 1 || nmax > EMD_DIM_MAX || mmax > EMD_DIM_MAX) {
        upset_fail(err, "EMD basis: sizes %d x %d outside 1..%d", nmax, mmax, EMD_DIM_MAX);
        return NULL;
    }
    emd_basis_t *b = upset_calloc(1, sizeof *b, err);
    if (!b)
        return NULL;
    b->cap_n = nmax;
    b->cap_m = mmax;
    b->arc_row = upset_calloc((size_t)nmax + (size_t)mmax, sizeof *b->arc_row, err);
    b->arc_col = b->arc_row ? upset_calloc((size_t)nmax + (size_t)mmax, sizeof *b->arc_col, err)
                            : NULL;
    b->pot_row = b->arc_col ? upset_calloc((size_t)nmax, sizeof *b->pot_row, err) : NULL;
    b->pot_col = b->pot_row ? upset_calloc((size_t)mmax, sizeof *b->pot_col, err) : NULL;
    if (!b->pot_col) {
        emd_basis_free(b);
        return NULL;
    }
    return b;
}

void emd_basis_free(emd_basis_t *b)
{
    if (!b)
        return;
    free(b->arc_row);
    free(b->arc_col);
    free(b->pot_row);
    free(b->pot_col);
    free(b);
}

void emd_basis_clear(emd_basis_t *b)
{
    b->n = b->m = b->narcs = 0;
}

/* ---- tree primitives -------------------------------------------------------------------- */

static void link_child(emd_workspace_t *ws, int v, int p)
{
    ws->parent[v] = p;
    ws->prev[v] = -1;
    ws->next[v] = ws->first[p];
    if (ws->first[p] >= 0)
        ws->prev[ws->first[p]] = v;
    ws->first[p] = v;
}

static void unlink_child(emd_workspace_t *ws, int v)
{
    if (ws->prev[v] >= 0)
        ws->next[ws->prev[v]] = ws->next[v];
    else
        ws->first[ws->parent[v]] = ws->next[v];
    if (ws->next[v] >= 0)
        ws->prev[ws->next[v]] = ws->prev[v];
}

static inline double cost_at(const emd_workspace_t *ws, int i, int jn)
{
    return ws->c[(size_t)i * (size_t)ws->m + (size_t)(jn - ws->n)];
}

/* Dual of v that makes its parent arc tight. */
static inline double child_pot(const emd_workspace_t *ws, int v, int p)
{
    if (p == ws->nn)
        return ws->big_m; /* artificial arc, root dual 0 */
    return (v < ws->n ? cost_at(ws, v, p) : cost_at(ws, p, v)) - ws->pot[p];
}

/* Drops the arc above w and adds q-p with flow f (q inside w's subtree, p outside) by
 * reversing the parent pointers on the path q..w; the arc flows move along with them. The
 * moved subtree's duals shift by rc, the entering arc's reduced cost (sources and sinks in
 * opposite directions), which makes that arc tight; its depths are recomputed. */
static void rehang(emd_workspace_t *ws, int q, int p, int w, double f, double rc)
{
    int from = p, cur = q;
    for (;;) {
        int up = ws->parent[cur];
        double fo = ws->flow[cur];
        unlink_child(ws, cur);
        link_child(ws, cur, from);
        ws->flow[cur] = f;
        if (cur == w)
            break;
        f = fo;
        from = cur;
        cur = up;
    }
    double ds = q < ws->n ? rc : -rc; /* shift of the subtree's source duals */
    int sp = 0;
    ws->stack[sp++] = q;
    while (sp) {
        int v = ws->stack[--sp];
        ws->depth[v] = ws->depth[ws->parent[v]] + 1;
        ws->pot[v] += v < ws->n ? ds : -ds;
        for (int c = ws->first[v]; c >= 0; c = ws->next[c])
            ws->stack[sp++] = c;
    }
}

/* Pre-order of the whole tree into ws->order; returns the node count. */
static int tree_order(emd_workspace_t *ws)
{
    int sp = 0, k = 0;
    ws->stack[sp++] = ws->root;
    while (sp) {
        int v = ws->stack[--sp];
        ws->order[k++] = v;
        for (int c = ws->first[v]; c >= 0; c = ws->next[c])
            ws->stack[sp++] = c;
    }
    return k;
}

/* Duals recomputed along the tree from the root's. */
static void fresh_duals(emd_workspace_t *ws)
{
    int count = tree_order(ws);
    for (int k = 1; k < count; k++) {
        int v = ws->order[k];
        ws->pot[v] = child_pot(ws, v, ws->parent[v]);
    }
}

/* Arc flows from the supplies (children before parents); the root takes the imbalance. */
static void tree_flows(emd_workspace_t *ws, int count)
{
    for (int k = 0; k < count; k++)
        ws->sub[ws->order[k]] = ws->order[k] < ws->nn ? ws->supply[ws->order[k]] : 0.0;
    for (int k = count - 1; k >= 1; k--) {
        int v = ws->order[k];
        ws->sub[ws->parent[v]] += ws->sub[v];
        ws->flow[v] = v < ws->n ? ws->sub[v] : -ws->sub[v];
    }
}

/* Tree from the arc list arc_s/arc_t/arc_f (compact source, compact sink), hung from
 * ws->root whose dual is kept. -1 if the arcs do not span the real nodes. */
static int build_tree(emd_workspace_t *ws, int narcs)
{
    int nn = ws->nn, n = ws->n;
    int *start = ws->adj_start, *cur = ws->mark;
    memset(start, 0, (size_t)(nn + 1) * sizeof *start);
    for (int k = 0; k < narcs; k++) {
        start[ws->arc_s[k] + 1]++;
        start[n + ws->arc_t[k] + 1]++;
    }
    for (int v = 0; v < nn; v++) {
        start[v + 1] += start[v];
        cur[v] = start[v];
        ws->parent[v] = -2;
        ws->first[v] = -1;
    }
    for (int k = 0; k < narcs; k++) {
        ws->adj[cur[ws->arc_s[k]]++] = k;
        ws->adj[cur[n + ws->arc_t[k]]++] = k;
    }
    int head = 0, tail = 0, r = ws->root;
    ws->order[tail++] = r;
    ws->parent[r] = -1;
    ws->depth[r] = 0;
    while (head < tail) {
        int v = ws->order[head++];
        for (int e = start[v]; e < start[v + 1]; e++) {
            int k = ws->adj[e];
            int u = v < n ? n + ws->arc_t[k] : ws->arc_s[k];
            if (ws->parent[u] != -2)
                continue;
            link_child(ws, u, v);
            ws->depth[u] = ws->depth[v] + 1;
            ws->pot[u] = child_pot(ws, u, v);
            ws->flow[u] = ws->arc_f[k];
            ws->order[tail++] = u;
        }
    }
    memset(cur, 0, (size_t)nn * sizeof *cur); /* mark[] must stay zero between uses */
    return tail == nn ? 0 : -1;
}

/* ---- cold start ------------------------------------------------------------------------- */

/* Symbolic perturbation (Cunningham's strongly feasible trees): every non-root node gets an
 * extra supply eps, the root sink absorbs them. A remainder is (r, k) = r + k * eps. */
static inline int sym_pos(double r, int k) { return r > 0 || (r == 0 && k > 0); }
static inline int sym_le(double r1, int k1, double r2, int k2)
{
    return r1 < r2 || (r1 == r2 && k1 <= k2);
}

/* Greedy on the perturbed masses: the nodes of the larger side, most particular first (largest
 * gap between their two cheapest partners, Vogel's criterion evaluated once), each draw from
 * the cheapest nodes of the other side that still have mass. With the perturbation no step
 * empties two nodes at once (but the last), so the arcs form a spanning tree in which every
 * zero-flow arc points up: a strongly feasible start. Rounding in near-ties can still spoil
 * that; the caller then falls back to the artificial start. */
static int greedy_start(emd_workspace_t *ws)
{
    int n = ws->n, m = ws->m, nn = ws->nn, narcs = 0;
    double *rem = ws->sub;
    int *k = ws->remk, *act = ws->stack;
    double total = 0, others = 0;
    for (int v = 0; v < nn; v++) {
        rem[v] = fabs(ws->supply[v]);
        k[v] = v < n ? 1 : -1;
        if (v < n)
            total += rem[v];
        else if (v != ws->root)
            others += rem[v];
    }
    rem[ws->root] = total - others; /* the root takes whatever the imbalance leaves */
    k[ws->root] = nn - 1;
    int big0 = m >= n ? n : 0, nbig = m >= n ? m : n, small0 = m >= n ? 0 : n;
    int nact = nn - nbig;
    for (int y = 0; y < nact; y++)
        act[y] = small0 + y;
    int *ord = ws->order;
    double *gap = ws->key, gmax = 0;
    for (int t = 0; t < nbig; t++) {
        int x = big0 + t;
        double c1 = INFINITY, c2 = INFINITY;
        for (int u = 0; u < nact; u++) {
            double cy = x < n ? cost_at(ws, x, act[u]) : cost_at(ws, act[u], x);
            if (cy < c1) {
                c2 = c1;
                c1 = cy;
            } else if (cy < c2) {
                c2 = cy;
            }
        }
        gap[t] = nact > 1 ? c2 - c1 : 0;
        gmax = gap[t] > gmax ? gap[t] : gmax;
    }
    /* bucket sort on the gap, largest first: linear time, and a rough order serves as well */
    int *cnt = ws->adj_start, *bucket = ws->adj;
    memset(cnt, 0, (size_t)(nbig + 1) * sizeof *cnt);
    for (int t = 0; t < nbig; t++) {
        bucket[t] = gmax > 0 && gmax < INFINITY ? (int)((1 - gap[t] / gmax) * (nbig - 1)) : 0;
        cnt[bucket[t] + 1]++;
    }
    for (int b = 0; b < nbig; b++)
        cnt[b + 1] += cnt[b];
    for (int t = 0; t < nbig; t++)
        ord[cnt[bucket[t]]++] = big0 + t;
    for (int t = 0; t < nbig; t++) {
        int x = ord[t];
        while (sym_pos(rem[x], k[x]) && nact > 0 && narcs < nn - 1) {
            int best = 0;
            double bc = INFINITY;
            for (int t = 0; t < nact; t++) {
                int y = act[t];
                double cy = x < n ? cost_at(ws, x, y) : cost_at(ws, y, x);
                if (cy < bc) {
                    bc = cy;
                    best = t;
                }
            }
            int y = act[best];
            double f;
            if (sym_le(rem[x], k[x], rem[y], k[y])) {
                f = rem[x];
                rem[y] -= rem[x];
                k[y] -= k[x];
                rem[x] = 0;
                k[x] = 0;
            } else {
                f = rem[y];
                rem[x] -= rem[y];
                k[x] -= k[y];
                rem[y] = 0;
                k[y] = 0;
            }
            if (!sym_pos(rem[y], k[y]))
                act[best] = act[--nact];
            /* arc list as (emptied node, other end) for the tree built below */
            ws->arc_s[narcs] = rem[x] == 0 && k[x] == 0 ? x : y;
            ws->arc_t[narcs] = rem[x] == 0 && k[x] == 0 ? y : x;
            ws->arc_f[narcs++] = f;
        }
    }
    /* Each arc emptied its first node, which takes no part in later arcs: read backwards,
     * every arc hangs a new node from one already placed. Then re-root at ws->root. */
    int *par = ws->parent;
    if (narcs != nn - 1)
        return -1;
    for (int v = 0; v < nn; v++) {
        ws->first[v] = -1;
        par[v] = -2;
    }
    par[ws->arc_t[narcs - 1]] = -1;
    for (int a = narcs - 1; a >= 0; a--) {
        int c = ws->arc_s[a], p = ws->arc_t[a];
        if (par[p] == -2 || par[c] != -2)
            return -1; /* two nodes emptied at once: not a tree */
        link_child(ws, c, p);
        ws->flow[c] = ws->arc_f[a];
    }
    double f = 0;
    for (int cur = ws->root, prev = -1; cur >= 0;) {
        int up = par[cur];
        double fo = ws->flow[cur];
        if (up >= 0)
            unlink_child(ws, cur);
        if (prev >= 0) {
            link_child(ws, cur, prev);
            ws->flow[cur] = f;
        } else {
            par[cur] = -1;
        }
        f = fo;
        prev = cur;
        cur = up;
    }
    int count = tree_order(ws);
    ws->depth[ws->root] = 0;
    ws->pot[ws->root] = 0;
    for (int t = 1; t < count; t++) {
        int v = ws->order[t];
        ws->depth[v] = ws->depth[par[v]] + 1;
        ws->pot[v] = child_pot(ws, v, par[v]);
        if (v >= n && ws->flow[v] == 0)
            return -1; /* a zero arc pointing down: not strongly feasible */
    }
    return 0;
}

/* LEMON-style start: every node hangs from the artificial root by a big-M arc carrying its
 * whole mass (strongly feasible by construction). */
static void star_start(emd_workspace_t *ws)
{
    int nn = ws->nn;
    ws->star = 1;
    ws->root = nn;
    ws->parent[nn] = -1;
    ws->first[nn] = -1;
    ws->depth[nn] = 0;
    ws->pot[nn] = 0;
    for (int v = nn - 1; v >= 0; v--) {
        ws->first[v] = -1;
        link_child(ws, v, nn);
        ws->flow[v] = v < ws->n ? ws->supply[v] : -ws->supply[v];
        ws->depth[v] = 1;
        ws->pot[v] = ws->big_m;
    }
}

/* ---- primal simplex --------------------------------------------------------------------- */

/* min_j (c_j - v_j): the hot loop of pricing, two doubles at a time where SSE2 is there. */
static double row_min(const double *c, const double *v, int m)
{
    double mn = INFINITY;
    int j = 0;
#ifdef __SSE2__
    __m128d m0 = _mm_set1_pd(INFINITY), m1 = m0;
    for (; j + 4 <= m; j += 4) {
        m0 = _mm_min_pd(_mm_sub_pd(_mm_loadu_pd(c + j), _mm_loadu_pd(v + j)), m0);
        m1 = _mm_min_pd(_mm_sub_pd(_mm_loadu_pd(c + j + 2), _mm_loadu_pd(v + j + 2)), m1);
    }
    double t[2];
    _mm_storeu_pd(t, _mm_min_pd(m0, m1));
    mn = t[0] < t[1] ? t[0] : t[1];
#endif
    for (; j < m; j++) {
        double t = c[j] - v[j];
        mn = t < mn ? t : mn;
    }
    return mn;
}

/* Block pricing: most negative reduced cost within blocks of whole rows, resuming where the
 * last search stopped. 0 when a full sweep finds nothing below -tol (optimal). */
static int price(emd_workspace_t *ws, int *bi, int *bj)
{
    int n = ws->n, m = ws->m, r = ws->next_row, scanned = 0, row = -1;
    const double *v = ws->pot + n;
    double best = -ws->tol, best_mn = 0;
    for (int cnt = 0; cnt < n; cnt++) {
        double mn = row_min(ws->c + (size_t)r * (size_t)m, v, m);
        if (mn - ws->pot[r] < best) {
            best = mn - ws->pot[r];
            best_mn = mn;
            row = r;
        }
        r = r + 1 == n ? 0 : r + 1;
        scanned += m;
        if (row >= 0 && scanned >= PRICE_BLOCK)
            break;
    }
    ws->next_row = r;
    if (row < 0)
        return 0;
    const double *cr = ws->c + (size_t)row * (size_t)m;
    int j = 0;
    while (j < m - 1 && cr[j] - v[j] != best_mn)
        j++;
    *bi = row;
    *bj = j;
    return 1;
}

/* Top of the cycle that arc i -> jn closes in the tree. */
static int find_apex(const emd_workspace_t *ws, int a, int b)
{
    while (a != b) {
        if (ws->depth[a] >= ws->depth[b])
            a = ws->parent[a];
        else
            b = ws->parent[b];
    }
    return a;
}

/* Sends theta around that cycle in the direction of i -> jn. */
static void push_flow(emd_workspace_t *ws, int i, int jn, int apex, double theta)
{
    int n = ws->n;
    for (int x = i; x != apex; x = ws->parent[x])
        ws->flow[x] += x < n ? -theta : theta;
    for (int x = jn; x != apex; x = ws->parent[x])
        ws->flow[x] += x < n ? theta : -theta;
}

/* One pivot on entering arc i -> jn. Leaving arc by Cunningham's rule: the last blocking arc
 * met when walking the cycle along the entering arc's direction from the apex. */
static int primal_pivot(emd_workspace_t *ws, int i, int jn)
{
    int n = ws->n, *par = ws->parent, apex = find_apex(ws, i, jn), w = -1, jside = 0;
    double *flow = ws->flow, theta = INFINITY;
    /* i side is walked against the cycle direction: keep the first minimum met */
    for (int x = i; x != apex; x = par[x])
        if (x < n && flow[x] < theta) {
            theta = flow[x];
            w = x;
        }
    /* jn side is walked along it and comes later: keep the last minimum met */
    for (int x = jn; x != apex; x = par[x])
        if (x >= n && flow[x] <= theta) {
            theta = flow[x];
            w = x;
            jside = 1;
        }
    if (w < 0)
        return -1; /* unbounded: impossible with finite costs */
    if (theta > 0)
        push_flow(ws, i, jn, apex, theta);
    double rc = cost_at(ws, i, jn) - ws->pot[i] - ws->pot[jn];
    if (jside)
        rehang(ws, jn, i, w, theta, rc);
    else
        rehang(ws, i, jn, w, theta, rc);
    return 0;
}

static int primal(emd_workspace_t *ws, upset_err_t *err)
{
    long limit = 1000L + 50L * ws->nn * ws->nn;
    int i = 0, j = 0;
    ws->next_row = 0;
    for (;;) {
        /* optimality is only declared on duals recomputed from the tree, free of the
         * rounding the pivots' shifts accumulate */
        if (!price(ws, &i, &j)) {
            fresh_duals(ws);
            if (!price(ws, &i, &j))
                return 0;
        }
        if (++ws->st.pivots > limit || primal_pivot(ws, i, ws->n + j))
            return upset_fail(err, "EMD: network simplex failed to converge (%ld pivots, %d x %d)",
                              ws->st.pivots, ws->n, ws->m);
    }
}

static int cold(emd_workspace_t *ws, upset_err_t *err)
{
    ws->star = 0;
    ws->root = ws->big_sink;
    if (greedy_start(ws))
        star_start(ws);
    return primal(ws, err);
}

/* ---- warm start: dual simplex ------------------------------------------------------------ */

static int uf_find(int *uf, int v)
{
    while (uf[v] != v)
        v = uf[v] = uf[uf[v]];
    return v;
}

/* Appends arc i -> sink j unless it would close a cycle. */
static void add_arc(emd_workspace_t *ws, int *narcs, int i, int j)
{
    int a = uf_find(ws->uf, i), b = uf_find(ws->uf, ws->n + j);
    if (a == b)
        return;
    ws->uf[a] = b;
    ws->arc_s[*narcs] = i;
    ws->arc_t[*narcs] = j;
    ws->arc_f[*narcs] = 0;
    (*narcs)++;
}

/* Joins one component K (not the root's) of the tight-arc forest to the rest: shifting K's
 * duals by the least reduced cost of an arc leaving (or entering) K keeps every reduced cost
 * >= 0 and makes that arc tight (a Hungarian-method step). */
static void merge_component(emd_workspace_t *ws, int *narcs)
{
    int n = ws->n, m = ws->m, nn = ws->nn, *in = ws->mark;
    int rk = uf_find(ws->uf, ws->root), k = -1;
    for (int v = 0; v < nn && k < 0; v++)
        if (uf_find(ws->uf, v) != rk)
            k = uf_find(ws->uf, v);
    for (int v = 0; v < nn; v++)
        in[v] = uf_find(ws->uf, v) == k;
    double out_rc = INFINITY, in_rc = INFINITY; /* arcs leaving K / entering K */
    int oi = -1, oj = -1, ii = -1, ij = -1;
    for (int i = 0; i < n; i++) {
        const double *cr = ws->c + (size_t)i * (size_t)m;
        for (int j = 0; j < m; j++) {
            if (in[i] == in[n + j])
                continue;
            double rc = cr[j] - ws->pot[i] - ws->pot[n + j];
            if (in[i] && rc < out_rc) {
                out_rc = rc;
                oi = i;
                oj = j;
            } else if (!in[i] && rc < in_rc) {
                in_rc = rc;
                ii = i;
                ij = j;
            }
        }
    }
    double s = out_rc <= in_rc ? out_rc : -in_rc; /* K's sources rise by s, its sinks drop */
    for (int v = 0; v < nn; v++)
        if (in[v])
            ws->pot[v] += v < n ? s : -s;
    memset(in, 0, (size_t)nn * sizeof *in);
    if (out_rc <= in_rc)
        add_arc(ws, narcs, oi, oj);
    else
        add_arc(ws, narcs, ii, ij);
}

/* Dual pivot on the negative-flow arc above w: the arc leaves, and the arc crossing the cut
 * in the direction that repairs it with the least reduced cost enters. */
static int dual_pivot(emd_workspace_t *ws, int w)
{
    int n = ws->n, m = ws->m, *in = ws->mark, *list = ws->adj, cnt = 0, sp = 0;
    ws->stack[sp++] = w;
    while (sp) {
        int v = ws->stack[--sp];
        list[cnt++] = v;
        in[v] = 1;
        for (int c = ws->first[v]; c >= 0; c = ws->next[c])
            ws->stack[sp++] = c;
    }
    /* an up arc (w a source) with negative flow: w's subtree lacks mass and needs an arc
     * from an outside source; a down arc: it has too much and needs one to an outside sink */
    int up = w < n, bi = -1, bj = -1;
    double best = INFINITY;
    for (int k = 0; k < cnt; k++) {
        int x = list[k];
        if (up && x >= n) {
            for (int i = 0; i < n; i++) {
                double rc = cost_at(ws, i, x) - ws->pot[i] - ws->pot[x];
                if (!in[i] && rc < best) {
                    best = rc;
                    bi = i;
                    bj = x - n;
                }
            }
        } else if (!up && x < n) {
            const double *cr = ws->c + (size_t)x * (size_t)m;
            for (int j = 0; j < m; j++) {
                double rc = cr[j] - ws->pot[x] - ws->pot[n + j];
                if (!in[n + j] && rc < best) {
                    best = rc;
                    bi = x;
                    bj = j;
                }
            }
        }
    }
    for (int k = 0; k < cnt; k++)
        in[list[k]] = 0;
    if (bi < 0)
        return -1;
    /* the cycle through the entering arc crosses w's arc along its direction: sending the
     * missing -flow[w] around it zeroes that arc */
    double theta = -ws->flow[w];
    push_flow(ws, bi, n + bj, find_apex(ws, bi, n + bj), theta);
    if (up)
        rehang(ws, n + bj, bi, w, theta, best);
    else
        rehang(ws, bi, n + bj, w, theta, best);
    return 0;
}

/* The saved tree as it was, when the support has not changed: its arcs come in pre-order
 * from the old root, a sink. -1 if they do not fit the current problem that way. */
static int restore_tree(emd_workspace_t *ws, const emd_basis_t *start)
{
    int n = ws->n, nn = ws->nn, *placed = ws->mark, ok = start->n && start->narcs == nn - 1;
    for (int k = 0; k < start->narcs && ok; k++) {
        int r = start->arc_row[k], c = start->arc_col[k];
        int i = r >= 0 && r < ws->on ? ws->rmap[r] : -1;
        int jn = c >= 0 && c < ws->om ? ws->cmap[c] : -1;
        if (i < 0 || jn < 0)
            break;
        jn += n;
        if (k == 0) {
            ws->root = jn;
            ws->parent[jn] = -1;
            ws->first[jn] = -1;
            ws->depth[jn] = 0;
            ws->pot[jn] = 0;
            ws->order[0] = jn;
            placed[jn] = 1;
        }
        if (placed[i] == placed[jn]) {
            ok = 0;
            break;
        }
        int v = placed[i] ? jn : i, p = placed[i] ? i : jn;
        ws->first[v] = -1;
        link_child(ws, v, p);
        ws->depth[v] = ws->depth[p] + 1;
        ws->pot[v] = child_pot(ws, v, p);
        ws->order[k + 1] = v;
        placed[v] = 1;
    }
    for (int v = 0; v < nn; v++)
        ok &= placed[v];
    memset(placed, 0, (size_t)nn * sizeof *placed);
    return ok ? 0 : -1;
}

/* A dual-feasible tree from the saved duals where the support changed: the saved arcs still
 * present and tight, new cells priced against the old ones, then the pieces joined. */
static int repair_tree(emd_workspace_t *ws, const emd_basis_t *start)
{
    int n = ws->n, m = ws->m, nn = ws->nn, *known = ws->mark, nsrc = 0, narcs = 0;
    double *pot = ws->pot;
    ws->root = ws->big_sink;
    for (int i = 0; i < n; i++) {
        double u = start->n ? start->pot_row[ws->rows[i]] : NAN;
        known[i] = isfinite(u);
        pot[i] = u;
        nsrc += known[i];
    }
    for (int j = 0; j < m; j++) {
        double v = start->n ? start->pot_col[ws->cols[j]] : NAN;
        known[n + j] = nsrc > 0 && isfinite(v);
        pot[n + j] = v;
    }
    if (!nsrc)
        for (int i = 0; i < n; i++) {
            pot[i] = 0;
            known[i] = 1;
        }
    for (int v = 0; v < nn; v++)
        ws->uf[v] = v;
    /* saved tree arcs still present and still tight */
    for (int k = 0; k < (start->n ? start->narcs : 0); k++) {
        int r = start->arc_row[k], c = start->arc_col[k];
        if (r < 0 || r >= ws->on || c < 0 || c >= ws->om)
            continue;
        int i = ws->rmap[r], j = ws->cmap[c];
        if (i < 0 || j < 0 || !known[i] || !known[n + j])
            continue;
        if (fabs(cost_at(ws, i, n + j) - pot[i] - pot[n + j]) <= ws->tol)
            add_arc(ws, &narcs, i, j);
    }
    /* new sinks, then new sources: the largest duals keeping their arcs' reduced costs >= 0 */
    for (int j = 0; j < m; j++) {
        if (known[n + j])
            continue;
        double best = INFINITY;
        int bi = 0;
        for (int i = 0; i < n; i++)
            if (known[i] && cost_at(ws, i, n + j) - pot[i] < best) {
                best = cost_at(ws, i, n + j) - pot[i];
                bi = i;
            }
        pot[n + j] = best;
        add_arc(ws, &narcs, bi, j);
    }
    for (int i = 0; i < n; i++) {
        if (known[i])
            continue;
        const double *cr = ws->c + (size_t)i * (size_t)m;
        double best = INFINITY;
        int bj = 0;
        for (int j = 0; j < m; j++)
            if (cr[j] - pot[n + j] < best) {
                best = cr[j] - pot[n + j];
                bj = j;
            }
        pot[i] = best;
        add_arc(ws, &narcs, i, bj);
    }
    memset(known, 0, (size_t)nn * sizeof *known);
    while (narcs < nn - 1)
        merge_component(ws, &narcs);
    return build_tree(ws, narcs);
}

/* Warm start from `start`; 0 if it reached a verified optimum, 1 if the cold method must run. */
static int warm(emd_workspace_t *ws, const emd_basis_t *start)
{
    int n = ws->n, m = ws->m, nn = ws->nn;
    double *pot = ws->pot;
    ws->star = 0;
    if (restore_tree(ws, start) && repair_tree(ws, start))
        return 1;
    tree_flows(ws, nn);

    long limit = 20L + 4L * nn;
    for (;;) {
        int w = -1;
        double worst = -ws->ftol;
        for (int v = 0; v < nn; v++)
            if (v != ws->root && ws->flow[v] < worst) {
                worst = ws->flow[v];
                w = v;
            }
        if (w < 0)
            break;
        if (++ws->st.dual_pivots > limit || dual_pivot(ws, w))
            return 1;
    }
    /* dual feasibility was kept by construction; confirm it in full on fresh duals */
    fresh_duals(ws);
    for (int i = 0; i < n; i++)
        if (!(row_min(ws->c + (size_t)i * (size_t)m, pot + n, m) - pot[i] >= -ws->tol))
            return 1;
    return 0;
}

/* ---- driver ----------------------------------------------------------------------------- */

/* max |x|, or NaN if some x is not finite (x * 0 is NaN exactly then). */
static double abs_max(const double *x, size_t len)
{
    double mx = 0, nf = 0;
    size_t k = 0;
#ifdef __SSE2__
    const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
    __m128d m0 = zero, m1 = zero, f0 = zero, f1 = zero;
    for (; k + 4 <= len; k += 4) {
        __m128d a = _mm_loadu_pd(x + k), b = _mm_loadu_pd(x + k + 2);
        m0 = _mm_max_pd(_mm_andnot_pd(sign, a), m0);
        m1 = _mm_max_pd(_mm_andnot_pd(sign, b), m1);
        f0 = _mm_add_pd(_mm_mul_pd(a, zero), f0);
        f1 = _mm_add_pd(_mm_mul_pd(b, zero), f1);
    }
    double t[2], u[2];
    _mm_storeu_pd(t, _mm_max_pd(m0, m1));
    _mm_storeu_pd(u, _mm_add_pd(f0, f1));
    mx = t[0] > t[1] ? t[0] : t[1];
    nf = u[0] + u[1];
#endif
    for (; k < len; k++) {
        double a = fabs(x[k]);
        mx = a > mx ? a : mx;
        nf += x[k] * 0;
    }
    return nf == 0 ? mx : NAN;
}

/* Validates the masses, removes zero cells and copies the costs they use. */
static int setup(emd_workspace_t *ws, const double *a, int n, const double *b, int m,
                 const double *cost, upset_err_t *err)
{
    if (n < 0 || m < 0 || n > ws->nmax || m > ws->mmax)
        return upset_fail(err, "EMD: histograms of %d x %d cells, workspace holds %d x %d", n,
                          m, ws->nmax, ws->mmax);
    double sa = 0, sb = 0;
    int cn = 0, cm = 0;
    for (int i = 0; i < n; i++) {
        if (!(a[i] >= 0) || isinf(a[i]))
            return upset_fail(err, "EMD: first histogram cell %d is %g (masses must be finite "
                                   "and >= 0)", i, a[i]);
        ws->rmap[i] = -1;
        if (a[i] > 0) {
            ws->rmap[i] = cn;
            ws->rows[cn] = i;
            ws->supply[cn++] = a[i];
            sa += a[i];
        }
    }
    for (int j = 0; j < m; j++) {
        if (!(b[j] >= 0) || isinf(b[j]))
            return upset_fail(err, "EMD: second histogram cell %d is %g (masses must be finite "
                                   "and >= 0)", j, b[j]);
        ws->cmap[j] = -1;
        if (b[j] > 0) {
            ws->cmap[j] = cm;
            ws->cols[cm] = j;
            ws->supply[cn + cm++] = -b[j];
            sb += b[j];
        }
    }
    double mass = sa > sb ? sa : sb;
    if (!(fabs(sa - sb) <= 1e-9 * mass))
        return upset_fail(err, "EMD: unbalanced masses, totals %.17g and %.17g", sa, sb);
    ws->on = n;
    ws->om = m;
    ws->n = cn;
    ws->m = cm;
    ws->nn = cn + cm;
    /* copy the costs in use (whole rows when every column has mass) */
    for (int i = 0; i < cn; i++) {
        const double *src = cost + (size_t)ws->rows[i] * (size_t)m;
        double *dst = ws->c + (size_t)i * (size_t)cm;
        if (cm == m)
            memcpy(dst, src, (size_t)m * sizeof *dst);
        else
            for (int j = 0; j < cm; j++)
                dst[j] = src[ws->cols[j]];
    }
    double cmax = abs_max(ws->c, (size_t)cn * (size_t)cm);
    if (!(cmax <= DBL_MAX))
        goto bad_cost;
    ws->big_m = (ws->nn / 2 + 1) * (cmax > 0 ? cmax : 1.0);
    ws->tol = 1e-13 * ws->big_m;
    ws->ftol = 4.0 * ws->nn * DBL_EPSILON * mass;
    int r = 0;
    for (int j = 1; j < cm; j++)
        if (-ws->supply[cn + j] > -ws->supply[cn + r])
            r = j;
    ws->big_sink = cn + r;
    return 0;
bad_cost:
    for (int i = 0; i < cn; i++)
        for (int j = 0; j < cm; j++)
            if (!isfinite(ws->c[(size_t)i * (size_t)cm + j]))
                return upset_fail(err, "EMD: cost[%d][%d] is %g (costs must be finite)",
                                  ws->rows[i], ws->cols[j], ws->c[(size_t)i * (size_t)cm + j]);
    return upset_fail(err, "EMD: non-finite cost");
}

static void finish(emd_workspace_t *ws, double *dist, emd_basis_t *out)
{
    int n = ws->n, nn = ws->nn;
    double d = 0;
    for (int v = 0; v < nn; v++) {
        int p = ws->parent[v];
        if (p >= 0 && p < nn)
            d += ws->flow[v] * (v < n ? cost_at(ws, v, p) : cost_at(ws, p, v));
    }
    *dist = d;
    ws->have_plan = 1;
    if (!out)
        return;
    out->n = ws->on;
    out->m = ws->om;
    for (int i = 0; i < ws->on; i++)
        out->pot_row[i] = NAN;
    for (int j = 0; j < ws->om; j++)
        out->pot_col[j] = NAN;
    for (int i = 0; i < n; i++)
        out->pot_row[ws->rows[i]] = ws->pot[i];
    for (int j = 0; j < ws->m; j++)
        out->pot_col[ws->cols[j]] = ws->pot[n + j];
    /* arcs in pre-order (each hangs below one listed earlier), so that a warm start on the
     * same support rebuilds the tree in one pass */
    out->narcs = 0;
    int count = nn ? tree_order(ws) : 0;
    for (int t = 1; t < count; t++) {
        int v = ws->order[t], p = ws->parent[v];
        if (p >= nn)
            continue;
        int i = v < n ? v : p, jn = v < n ? p : v;
        out->arc_row[out->narcs] = ws->rows[i];
        out->arc_col[out->narcs++] = ws->cols[jn - n];
    }
}

static int solve(emd_workspace_t *ws, const emd_basis_t *start, const double *a, int n,
                 const double *b, int m, const double *cost, double *dist, emd_basis_t *out,
                 upset_err_t *err)
{
    ws->have_plan = 0;
    memset(&ws->st, 0, sizeof ws->st);
    if (out && (out->cap_n < n || out->cap_m < m))
        return upset_fail(err, "EMD: basis holds %d x %d cells, histograms have %d x %d",
                          out->cap_n, out->cap_m, n, m);
    if (start && start->n != 0 &&
        (start->n != n || start->m != m || start->narcs < 0 || start->narcs > n + m))
        return upset_fail(err, "EMD: warm-start basis is for %d x %d cells (%d arcs), "
                               "histograms have %d x %d", start->n, start->m, start->narcs, n, m);
    if (setup(ws, a, n, b, m, cost, err))
        return -1;
    ws->st.warm = start != NULL;
    ws->st.n = ws->n;
    ws->st.m = ws->m;
    if (ws->nn > 0) {
        int done = start && warm(ws, start) == 0;
        ws->st.fallback = start && !done;
        if (!done && cold(ws, err))
            return -1;
    }
    finish(ws, dist, out);
    return 0;
}

int emd_solve(emd_workspace_t *ws, const double *a, int n, const double *b, int m,
              const double *cost, double *dist, emd_basis_t *basis_out, upset_err_t *err)
{
    return solve(ws, NULL, a, n, b, m, cost, dist, basis_out, err);
}

int emd_solve_warm(emd_workspace_t *ws, const emd_basis_t *start, const double *a, int n,
                   const double *b, int m, const double *cost, double *dist,
                   emd_basis_t *basis_out, upset_err_t *err)
{
    return solve(ws, start, a, n, b, m, cost, dist, basis_out, err);
}

int emd_last_plan(const emd_workspace_t *ws, double *plan, int n, int m, upset_err_t *err)
{
    if (!ws->have_plan)
        return upset_fail(err, "EMD: no plan (the last solve failed or none ran)");
    if (n != ws->on || m != ws->om)
        return upset_fail(err, "EMD: plan requested as %d x %d, last solve was %d x %d", n, m,
                          ws->on, ws->om);
    memset(plan, 0, (size_t)n * (size_t)m * sizeof *plan);
    for (int v = 0; v < ws->nn; v++) {
        int p = ws->parent[v];
        if (p < 0 || p >= ws->nn)
            continue;
        int i = v < ws->n ? v : p, jn = v < ws->n ? p : v;
        plan[(size_t)ws->rows[i] * (size_t)m + (size_t)ws->cols[jn - ws->n]] += ws->flow[v];
    }
    return 0;
}
