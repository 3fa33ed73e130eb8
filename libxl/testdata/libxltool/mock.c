/* libmock: just enough of libxc and xenstore for libxl_ctx_alloc without Xen (what libvirt's tests/libxlmock.c does). */
#include <stddef.h>
#include <stdint.h>
void *xc_interface_open(void *a, void *b, unsigned f){ return (void*)1; }
int xc_interface_close(void *x){ return 0; }
void *xs_open(unsigned long f){ return (void*)1; }
void *xs_daemon_open(void){ return (void*)1; }
void xs_close(void *h){}
void xs_daemon_close(void *h){}
