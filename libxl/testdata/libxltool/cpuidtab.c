/*
 * cpuidtab: read candidate feature names on stdin, print "name<TAB>json" for every name
 * libxl_cpuid_parse_config accepts, the json being the build info with only "name=0" applied.
 * gentable.go turns that into ../../cpuid_table.go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxl_utils.h>

int main(void){
  libxl_ctx *ctx; xentoollog_logger *lg = (xentoollog_logger*)xtl_createlogger_stdiostream(stderr, XTL_CRITICAL, 0);
  if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, lg)) return 2;
  char name[256];
  while (fgets(name, sizeof name, stdin)) {
    name[strcspn(name, "\n")] = 0;
    char cfg[300]; snprintf(cfg, sizeof cfg, "%s=0", name);
    libxl_cpuid_policy_list p = NULL;
    if (libxl_cpuid_parse_config(&p, cfg)) { libxl_cpuid_dispose(&p); continue; }
    libxl_domain_build_info b; libxl_domain_build_info_init(&b); b.cpuid = p;
    char *s = libxl_domain_build_info_to_json(ctx, &b);
    printf("%s\t", name);
    for (char *q = s; *q; q++) if (*q != ' ' && *q != '\n') putchar(*q);
    putchar('\n');
    free(s); libxl_cpuid_dispose(&b.cpuid);
  }
  return 0;
}
