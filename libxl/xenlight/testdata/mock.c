/*
 * mock.c: just enough of Xen for the xenlight adapter to open a libxl context and answer host and Domain-0
 * queries without a hypervisor. LD_PRELOADed into the test binary (see mock_test.go), as libvirt's
 * tests/libxlmock.c is into its tests: libxc and xenstore hand out a fake handle, xenstore reads find a few
 * Domain-0 keys and every guest's name, and the libxl calls that would reach the hypervisor answer with a fixed
 * 4-cpu, 4 GiB host running Xen 4.17.3. Domain-0 is always there; the guests are the lines "domid state" (0
 * running, 1 paused, 2 dying) of the file $VXMOCK_DOMAINS, read at every call, so that a test can make guests
 * appear, pause, die and vanish.
 * The domain death watch is stubbed (it would need a real xenstore): it hands out dummy generators. The host
 * runs credit2, Xen 4.17's default; scheduler parameters are one weight and cap shared by every domain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>

void *xc_interface_open(void *a, void *b, unsigned f) { return (void *)1; }
int xc_interface_close(void *x) { return 0; }
void *xs_open(unsigned long f) { return (void *)1; }
void *xs_daemon_open(void) { return (void *)1; }
void xs_close(void *h) {}
void xs_daemon_close(void *h) {}

static const struct { const char *path, *value; } xenstore[] = {
    {"/local/domain/0/name", "Domain-0"},
    {"/local/domain/0/memory/target", "1048576"},
    {"/local/domain/0/memory/static-max", "1048576"},
};

void *xs_read(void *h, uint32_t t, const char *path, unsigned int *len)
{
    unsigned id;
    char tail[16];

    if (sscanf(path, "/local/domain/%u/%15s", &id, tail) == 2 && id != 0 && strcmp(tail, "name") == 0) {
        char *name = malloc(32);
        snprintf(name, 32, "guest-%u", id);
        if (len)
            *len = strlen(name);
        return name;
    }
    for (size_t i = 0; i < sizeof(xenstore) / sizeof(xenstore[0]); i++) {
        if (strcmp(path, xenstore[i].path) == 0) {
            if (len)
                *len = strlen(xenstore[i].value);
            return strdup(xenstore[i].value);
        }
    }
    errno = ENOENT;
    return NULL;
}

const libxl_version_info *libxl_get_version_info(libxl_ctx *ctx)
{
    static libxl_version_info v = {
        .xen_version_major = 4,
        .xen_version_minor = 17,
        .xen_version_extra = ".3",
        .capabilities = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
        .pagesize = 4096,
        .commandline = "placeholder dom0_mem=1024M,max:1024M loglvl=all",
    };
    return &v;
}

int libxl_get_physinfo(libxl_ctx *ctx, libxl_physinfo *p)
{
    p->threads_per_core = 1;
    p->cores_per_socket = 4;
    p->nr_cpus = 4;
    p->max_cpu_id = 3;
    p->cpu_khz = 2400000;
    p->total_pages = 1048576; /* 4 GiB */
    p->free_pages = 524288;
    p->nr_nodes = 3;
    p->cap_hvm = true;
    p->cap_pv = true;
    return 0;
}

/* Three nodes, the last without memory; cpus 0-1 on node 0, cpu 2 on node 1, cpu 3 offline. */
libxl_numainfo *libxl_get_numainfo(libxl_ctx *ctx, int *nr)
{
    static const uint64_t size[] = {3ULL << 30, 1ULL << 30, LIBXL_NUMAINFO_INVALID_ENTRY};
    static const uint64_t free_[] = {3ULL << 29, 1ULL << 29, LIBXL_NUMAINFO_INVALID_ENTRY};
    libxl_numainfo *l = calloc(3, sizeof(*l));

    for (int i = 0; i < 3; i++) {
        l[i].size = size[i];
        l[i].free = free_[i];
        l[i].num_dists = 3;
        l[i].dists = calloc(3, sizeof(uint32_t));
        for (int j = 0; j < 3; j++)
            l[i].dists[j] = i == j ? 10 : 20 + i + j;
    }
    *nr = 3;
    return l;
}

libxl_cputopology *libxl_get_cpu_topology(libxl_ctx *ctx, int *nb)
{
    libxl_cputopology *l = calloc(4, sizeof(*l));

    l[0] = (libxl_cputopology){.core = 0, .socket = 0, .node = 0};
    l[1] = (libxl_cputopology){.core = 1, .socket = 0, .node = 0};
    l[2] = (libxl_cputopology){.core = 2, .socket = 0, .node = 1};
    l[3] = (libxl_cputopology){.core = LIBXL_CPUTOPOLOGY_INVALID_ENTRY, .socket = LIBXL_CPUTOPOLOGY_INVALID_ENTRY,
                               .node = LIBXL_CPUTOPOLOGY_INVALID_ENTRY};
    *nb = 4;
    return l;
}

int libxl_get_free_memory(libxl_ctx *ctx, uint64_t *memkb)
{
    *memkb = 2097152;
    return 0;
}

static void fill(libxl_dominfo *d, uint32_t domid, int state)
{
    memset(d, 0, sizeof(*d));
    d->domid = domid;
    d->uuid.uuid[15] = (unsigned char)domid;
    d->running = state == 0;
    d->paused = state == 1;
    d->dying = state == 2;
    d->current_memkb = domid ? 131072 : 1048576;
    d->max_memkb = d->current_memkb + 1024;
    d->cpu_time = 5000000000ULL;
    d->vcpu_max_id = domid ? 0 : 3;
    d->vcpu_online = d->vcpu_max_id + 1;
    d->domain_type = LIBXL_DOMAIN_TYPE_PV;
}

/* guests reads $VXMOCK_DOMAINS into ids/states (at most max) and returns how many there are. */
static int guests(uint32_t *ids, int *states, int max)
{
    const char *path = getenv("VXMOCK_DOMAINS");
    FILE *f = path ? fopen(path, "r") : NULL;
    int n = 0;

    if (!f)
        return 0;
    while (n < max && fscanf(f, "%u %d", &ids[n], &states[n]) == 2)
        n++;
    fclose(f);
    return n;
}

libxl_dominfo *libxl_list_domain(libxl_ctx *ctx, int *nb)
{
    uint32_t ids[64];
    int states[64], n = guests(ids, states, 64);
    libxl_dominfo *l = calloc((size_t)n + 1, sizeof(*l));

    fill(&l[0], 0, 0);
    for (int i = 0; i < n; i++)
        fill(&l[i + 1], ids[i], states[i]);
    *nb = n + 1;
    return l;
}

int libxl_domain_info(libxl_ctx *ctx, libxl_dominfo *info, uint32_t domid)
{
    uint32_t ids[64];
    int states[64], n = guests(ids, states, 64);

    if (domid == 0) {
        if (info)
            fill(info, 0, 0);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (ids[i] == domid) {
            if (info)
                fill(info, domid, states[i]);
            return 0;
        }
    }
    return ERROR_DOMAIN_NOTFOUND;
}

int libxl_evenable_domain_death(libxl_ctx *ctx, uint32_t domid, libxl_ev_user user,
                                libxl_evgen_domain_death **evgen_out)
{
    *evgen_out = (libxl_evgen_domain_death *)(uintptr_t)(0x1000 + domid);
    return 0;
}

void libxl_evdisable_domain_death(libxl_ctx *ctx, libxl_evgen_domain_death *evgen) {}

int libxl_get_scheduler(libxl_ctx *ctx) { return LIBXL_SCHEDULER_CREDIT2; }

static int sched_weight = 256, sched_cap = 0;

int libxl_domain_sched_params_get(libxl_ctx *ctx, uint32_t domid, libxl_domain_sched_params *p)
{
    p->sched = LIBXL_SCHEDULER_CREDIT2;
    p->weight = sched_weight;
    p->cap = sched_cap;
    return 0;
}

int libxl_domain_sched_params_set(libxl_ctx *ctx, uint32_t domid, const libxl_domain_sched_params *p)
{
    if (p->sched != LIBXL_SCHEDULER_CREDIT2 || p->weight < 1 || p->weight > 65535)
        return ERROR_INVAL;
    sched_weight = p->weight;
    sched_cap = p->cap;
    return 0;
}
