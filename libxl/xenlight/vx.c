//go:build xenlight

/*
 * vx.c: the C glue of the xenlight adapter: the logger and event hooks that call back into Go, the event-loop
 * pump, and the calls whose arguments are awkward to build from Go (variadic logging, bitmaps, device structs
 * filled from JSON, restore parameters).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "vx.h"
#include "_cgo_export.h"

/* ---- logger ---- */

struct vx_logger {
    xentoollog_logger base;
    uintptr_t handle;
    int min_level;
};

static void vx_vmessage(xentoollog_logger *lg, xentoollog_level level, int errnoval, const char *context,
                        const char *format, va_list al)
{
    struct vx_logger *l = (struct vx_logger *)lg;
    char msg[2048];

    if ((int)level < __atomic_load_n(&l->min_level, __ATOMIC_RELAXED))
        return;
    vsnprintf(msg, sizeof(msg), format, al);
    vxGoLog(l->handle, (int)level, errnoval, (char *)(context ? context : ""), msg);
}

static void vx_progress(xentoollog_logger *lg, const char *context, const char *doing_what, int percent,
                        unsigned long done, unsigned long total)
{
    struct vx_logger *l = (struct vx_logger *)lg;
    char msg[512];

    /* libxc's save progress, whatever the log level: a migration's job statistics */
    if (context && strcmp(context, "xc") == 0)
        vxGoProgress(l->handle, (char *)(doing_what ? doing_what : ""), done, total);
    if ((int)XTL_PROGRESS < __atomic_load_n(&l->min_level, __ATOMIC_RELAXED))
        return;
    snprintf(msg, sizeof(msg), "%s: %d%% (%lu/%lu)", doing_what ? doing_what : "", percent, done, total);
    vxGoLog(l->handle, (int)XTL_PROGRESS, -1, (char *)(context ? context : ""), msg);
}

static void vx_logger_destroy(xentoollog_logger *lg)
{
    free(lg);
}

vx_logger *vx_logger_new(uintptr_t handle, int min_level)
{
    struct vx_logger *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->base.vmessage = vx_vmessage;
    l->base.progress = vx_progress;
    l->base.destroy = vx_logger_destroy;
    l->handle = handle;
    l->min_level = min_level;
    return l;
}

void vx_logger_set_min(vx_logger *l, int min_level)
{
    __atomic_store_n(&l->min_level, min_level, __ATOMIC_RELAXED);
}

xentoollog_logger *vx_logger_base(vx_logger *l)
{
    return &l->base;
}

void vx_logger_free(vx_logger *l)
{
    if (l)
        xtl_logger_destroy(&l->base);
}

/* ---- events and SIGCHLD ---- */

static void vx_event_occurs(void *user, libxl_event *ev)
{
    int reason = -1;

    if (ev->type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN)
        reason = ev->u.domain_shutdown.shutdown_reason;
    vxGoEvent((uintptr_t)user, (int)ev->type, ev->domid, reason, ev->domuuid.uuid, ev->for_user);
    libxl_event_free(NULL, ev);
}

static void vx_disaster(void *user, libxl_event_type type, const char *msg, int errnoval)
{
    vxGoDisaster((uintptr_t)user, (int)type, (char *)(msg ? msg : ""), errnoval);
}

/* Both must outlast the ctx: libxl keeps the pointers. */
static const libxl_childproc_hooks vx_childproc_hooks = {
    .chldowner = libxl_sigchld_owner_mainloop,
};

static const libxl_event_hooks vx_event_hooks = {
    .event_occurs_mask = (1UL << LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN) | (1UL << LIBXL_EVENT_TYPE_DOMAIN_DEATH),
    .event_occurs = vx_event_occurs,
    .disaster = vx_disaster,
};

void vx_deliver(uintptr_t handle, int type, uint32_t domid, int reason, const uint8_t *uuid, uint64_t for_user)
{
    libxl_event *ev = malloc(sizeof(*ev));

    if (!ev)
        return;
    libxl_event_init(ev);
    libxl_event_init_type(ev, (libxl_event_type)type);
    ev->domid = domid;
    ev->for_user = for_user;
    memcpy(ev->domuuid.uuid, uuid, sizeof(ev->domuuid.uuid));
    if (type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN)
        ev->u.domain_shutdown.shutdown_reason = (uint8_t)reason;
    vx_event_occurs((void *)handle, ev);
}

void vx_setup(libxl_ctx *ctx, uintptr_t handle)
{
    libxl_childproc_setmode(ctx, &vx_childproc_hooks, NULL);
    libxl_event_register_callbacks(ctx, &vx_event_hooks, (void *)handle);
}

/* ---- the pump ---- */

struct vx_poll {
    struct pollfd *fds; /* fds[0] is the wake fd, libxl's follow */
    int alloc;
};

vx_poll *vx_poll_new(void)
{
    struct vx_poll *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->alloc = 16;
    p->fds = calloc(p->alloc, sizeof(*p->fds));
    if (!p->fds) {
        free(p);
        return NULL;
    }
    return p;
}

void vx_poll_free(vx_poll *p)
{
    if (p) {
        free(p->fds);
        free(p);
    }
}

int vx_pump(libxl_ctx *ctx, vx_poll *p, int wakefd, int timeout_ms)
{
    struct timeval now;
    int nfds, timeout, rc;

    gettimeofday(&now, NULL);
    for (;;) {
        nfds = p->alloc - 1;
        timeout = timeout_ms;
        rc = libxl_osevent_beforepoll(ctx, &nfds, p->fds + 1, &timeout, now);
        if (rc == 0)
            break;
        if (rc != ERROR_BUFFERFULL)
            return rc;
        struct pollfd *bigger = realloc(p->fds, (size_t)(nfds + 1) * sizeof(*p->fds));
        if (!bigger)
            return ERROR_NOMEM;
        p->fds = bigger;
        p->alloc = nfds + 1;
    }
    p->fds[0].fd = wakefd;
    p->fds[0].events = POLLIN;
    p->fds[0].revents = 0;
    rc = poll(p->fds, (nfds_t)nfds + 1, timeout);
    if (rc < 0 && errno != EINTR)
        return ERROR_FAIL;
    if (rc < 0) {
        /* Interrupted (the Go runtime signals its threads): report nothing ready to libxl. */
        for (int i = 1; i <= nfds; i++)
            p->fds[i].revents = 0;
        p->fds[0].revents = 0;
    }
    gettimeofday(&now, NULL);
    libxl_osevent_afterpoll(ctx, nfds, p->fds + 1, now);
    return (p->fds[0].revents & POLLIN) ? 1 : 0;
}

/* ---- configurations ---- */

int vx_config_parse(libxl_ctx *ctx, const char *json, libxl_domain_config **out)
{
    libxl_domain_config *c = malloc(sizeof(*c));

    *out = NULL;
    if (!c)
        return ERROR_NOMEM;
    libxl_domain_config_init(c);
    if (libxl_domain_config_from_json(ctx, c, json)) {
        libxl_domain_config_dispose(c);
        free(c);
        return VX_EPARSE;
    }
    *out = c;
    return 0;
}

void vx_config_free(libxl_domain_config *c)
{
    if (c) {
        libxl_domain_config_dispose(c);
        free(c);
    }
}

int vx_create(libxl_ctx *ctx, libxl_domain_config *c, uint32_t *domid, int restore_fd)
{
    libxl_domain_restore_params params;
    int rc;

    *domid = INVALID_DOMID;
    if (restore_fd < 0)
        return libxl_domain_create_new(ctx, c, domid, NULL, NULL);
    libxl_domain_restore_params_init(&params);
    params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
    params.stream_version = 2; /* what libxl_domain_suspend writes since Xen 4.6 */
    rc = libxl_domain_create_restore(ctx, c, domid, restore_fd, -1, &params, NULL, NULL);
    libxl_domain_restore_params_dispose(&params);
    return rc;
}

/* ---- devices ---- */

#define VX_DEVICE_OP(type)                                                                        \
    do {                                                                                          \
        libxl_device_##type d;                                                                    \
        libxl_device_##type##_init(&d);                                                           \
        if (libxl_device_##type##_from_json(ctx, &d, json))                                       \
            rc = VX_EPARSE;                                                                       \
        else                                                                                      \
            rc = add ? libxl_device_##type##_add(ctx, domid, &d, NULL)                            \
                     : libxl_device_##type##_remove(ctx, domid, &d, NULL);                        \
        libxl_device_##type##_dispose(&d);                                                        \
    } while (0)

int vx_device_op(libxl_ctx *ctx, uint32_t domid, int kind, int add, const char *json)
{
    int rc = ERROR_INVAL;

    switch (kind) {
    case VX_DISK: VX_DEVICE_OP(disk); break;
    case VX_NIC: VX_DEVICE_OP(nic); break;
    case VX_PCI: VX_DEVICE_OP(pci); break;
    case VX_USB: VX_DEVICE_OP(usbdev); break;
    }
    return rc;
}

#define VX_DEVICE_LIST(type)                                                                      \
    do {                                                                                          \
        libxl_device_##type *l = libxl_device_##type##_list(ctx, domid, n);                       \
        if (!l || *n <= 0) {                                                                      \
            *n = 0;                                                                               \
            return NULL;                                                                          \
        }                                                                                         \
        out = calloc((size_t)*n, sizeof(char *));                                                 \
        for (int i = 0; out && i < *n; i++)                                                       \
            out[i] = libxl_device_##type##_to_json(ctx, &l[i]);                                   \
        libxl_device_##type##_list_free(l, *n);                                                   \
    } while (0)

char **vx_device_list(libxl_ctx *ctx, uint32_t domid, int kind, int *n)
{
    char **out = NULL;

    *n = 0;
    switch (kind) {
    case VX_DISK: VX_DEVICE_LIST(disk); break;
    case VX_NIC: VX_DEVICE_LIST(nic); break;
    case VX_PCI: VX_DEVICE_LIST(pci); break;
    case VX_USB: VX_DEVICE_LIST(usbdev); break;
    }
    if (!out)
        *n = 0;
    return out;
}

void vx_strv_free(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- vcpus ---- */

int vx_set_vcpus(libxl_ctx *ctx, uint32_t domid, int max_vcpus, int online)
{
    libxl_bitmap map;
    int rc;

    libxl_bitmap_init(&map);
    rc = libxl_cpu_bitmap_alloc(ctx, &map, max_vcpus);
    if (rc)
        return rc;
    for (int i = 0; i < online; i++)
        libxl_bitmap_set(&map, i);
    rc = libxl_set_vcpuonline(ctx, domid, &map, NULL);
    libxl_bitmap_dispose(&map);
    return rc;
}

int vx_pin_vcpu(libxl_ctx *ctx, uint32_t domid, uint32_t vcpu, const int *cpus, int ncpus)
{
    libxl_bitmap map;
    int rc;

    libxl_bitmap_init(&map);
    rc = libxl_cpu_bitmap_alloc(ctx, &map, 0);
    if (rc)
        return rc;
    for (int i = 0; i < ncpus; i++) {
        if (cpus[i] < 0 || (uint32_t)cpus[i] >= map.size * 8) {
            libxl_bitmap_dispose(&map);
            return ERROR_INVAL;
        }
        libxl_bitmap_set(&map, cpus[i]);
    }
    rc = libxl_set_vcpuaffinity(ctx, domid, vcpu, &map, NULL);
    libxl_bitmap_dispose(&map);
    return rc;
}

int vx_sched_get(libxl_ctx *ctx, uint32_t domid, int *weight, int *cap)
{
    libxl_domain_sched_params p;
    int rc;

    libxl_domain_sched_params_init(&p);
    rc = libxl_domain_sched_params_get(ctx, domid, &p);
    if (!rc) {
        *weight = p.weight;
        *cap = p.cap;
    }
    libxl_domain_sched_params_dispose(&p);
    return rc;
}

int vx_sched_set(libxl_ctx *ctx, uint32_t domid, int weight, int cap)
{
    libxl_domain_sched_params p;
    int rc;

    libxl_domain_sched_params_init(&p);
    rc = libxl_domain_sched_params_get(ctx, domid, &p);
    if (!rc) {
        if (weight >= 0)
            p.weight = weight;
        if (cap >= 0)
            p.cap = cap;
        rc = libxl_domain_sched_params_set(ctx, domid, &p);
    }
    libxl_domain_sched_params_dispose(&p);
    return rc;
}
