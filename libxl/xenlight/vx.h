//go:build xenlight

/*
 * vx.h: the C side of the xenlight adapter. Only declarations live here, because callbacks.go has //export
 * directives and includes this header; the definitions are in vx.c.
 */
#ifndef VIRTXEND_XENLIGHT_VX_H
#define VIRTXEND_XENLIGHT_VX_H

#include <stdint.h>
#include <stdlib.h>
#include <libxl.h>
#include <libxl_event.h>
#include <libxl_utils.h>
#include <xenstore.h>
#include <xentoollog.h>

/* A xentoollog logger that hands libxl's messages to Go (vxGoLog) with the handle of the Hypervisor. */
typedef struct vx_logger vx_logger;
vx_logger *vx_logger_new(uintptr_t handle, int min_level);
void vx_logger_set_min(vx_logger *l, int min_level);
xentoollog_logger *vx_logger_base(vx_logger *l);
void vx_logger_free(vx_logger *l);

/* vx_setup makes the application own SIGCHLD (libxl_sigchld_owner_mainloop) and routes domain events to Go
 * (vxGoEvent) instead of libxl's queue. It must run before any child process or event generator exists. */
void vx_setup(libxl_ctx *ctx, uintptr_t handle);

/* vx_deliver hands a libxl_event to the same hook libxl calls, built as libxl builds it: the tests, which have
 * no hypervisor to produce events, drive the C-to-Go path with it. */
void vx_deliver(uintptr_t handle, int type, uint32_t domid, int reason, const uint8_t *uuid, uint64_t for_user);

/* One iteration of the event loop that drives libxl when no other thread is inside it: beforepoll, poll (with
 * wakefd, for shutdown), afterpoll. Returns 1 when wakefd is readable, 0 otherwise, or a libxl error. */
typedef struct vx_poll vx_poll;
vx_poll *vx_poll_new(void);
void vx_poll_free(vx_poll *p);
int vx_pump(libxl_ctx *ctx, vx_poll *p, int wakefd, int timeout_ms);

/* VX_EPARSE is returned when libxl's JSON parser rejects a configuration or device; it is not a libxl code. */
#define VX_EPARSE (-1000)

int vx_config_parse(libxl_ctx *ctx, const char *json, libxl_domain_config **out);
void vx_config_free(libxl_domain_config *c);

/* vx_create builds a domain (restore_fd < 0) or restores one from a v2 save stream on restore_fd. The domain is
 * left paused. */
int vx_create(libxl_ctx *ctx, libxl_domain_config *c, uint32_t *domid, int restore_fd);

/* Device kinds of vx_device_op and vx_device_list. */
enum { VX_DISK = 1, VX_NIC = 2, VX_PCI = 3, VX_USB = 4 };

/* vx_device_op parses json as a device of kind and adds it to (add != 0) or removes it from a domain. */
int vx_device_op(libxl_ctx *ctx, uint32_t domid, int kind, int add, const char *json);
/* vx_device_list returns the devices of kind a domain has, as libxl JSON strings (free with vx_strv_free). */
char **vx_device_list(libxl_ctx *ctx, uint32_t domid, int kind, int *n);
void vx_strv_free(char **v, int n);

int vx_set_vcpus(libxl_ctx *ctx, uint32_t domid, int max_vcpus, int online);
int vx_pin_vcpu(libxl_ctx *ctx, uint32_t domid, uint32_t vcpu, const int *cpus, int ncpus);
/* The credit scheduler's weight and cap of a domain: get, and set keeping the other parameters (as libvirt's
 * libxlDomainSetSchedulerParametersFlags does, through libxl_domain_sched_params_get/_set). */
int vx_sched_get(libxl_ctx *ctx, uint32_t domid, int *weight, int *cap);
int vx_sched_set(libxl_ctx *ctx, uint32_t domid, int weight, int cap);

#endif
