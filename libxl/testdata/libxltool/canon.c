/*
 * canon: parse each libxl_domain_config JSON file named on the command line (or stdin when none) with libxl's own
 * libxl_domain_config_from_json and print it again with libxl_domain_config_to_json, as libvirt's
 * libxlxml2domconfigtest does with its expected files. Run with LD_PRELOAD=libmock.so where there is no Xen.
 * With several files, the outputs are separated by a line holding a single NUL-free marker "\f".
 */
#include <stdio.h>
#include <stdlib.h>
#include <libxl.h>
#include <libxl_utils.h>

static char *slurp(FILE *f)
{
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    return buf;
}

static int one(libxl_ctx *ctx, FILE *f, const char *name)
{
    char *in = slurp(f), *out;
    libxl_domain_config c;
    libxl_domain_config_init(&c);
    if (libxl_domain_config_from_json(ctx, &c, in)) {
        fprintf(stderr, "canon: libxl cannot parse %s\n", name);
        return 1;
    }
    out = libxl_domain_config_to_json(ctx, &c);
    fputs(out, stdout);
    free(out);
    free(in);
    libxl_domain_config_dispose(&c);
    return 0;
}

int main(int argc, char **argv)
{
    libxl_ctx *ctx;
    xentoollog_logger *lg = (xentoollog_logger *)xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
    int i, rc = 0;

    if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, lg)) {
        fprintf(stderr, "canon: cannot allocate a libxl context (is libmock.so preloaded?)\n");
        return 2;
    }
    if (argc == 1)
        return one(ctx, stdin, "<stdin>");
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        if (i > 1)
            fputs("\f\n", stdout);
        rc |= one(ctx, f, argv[i]);
        fclose(f);
    }
    return rc;
}
