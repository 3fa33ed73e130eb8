/* samples: builds a few configurations with libxl's own types (devices and unions the libvirt corpus lacks) and
 * prints them with libxl_domain_config_to_json, separated by form feeds; gen.sh splits them into ../libxl417-extra. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxl_utils.h>
int main(void){
  libxl_ctx *ctx; xentoollog_logger *lg = (xentoollog_logger*)xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
  if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, lg)) return 2;
  libxl_domain_config c; libxl_domain_config_init(&c);
  libxl_domain_build_info_init_type(&c.b_info, LIBXL_DOMAIN_TYPE_PV);
  c.c_info.type = LIBXL_DOMAIN_TYPE_PV;
  char *args[] = {"-q","x",NULL}; c.b_info.u.pv.bootloader_args = args;
  c.b_info.bootloader = "pygrub";
  c.b_info.extra = args;
  c.num_channels=2; c.channels=calloc(2,sizeof(libxl_device_channel));
  libxl_device_channel_init(&c.channels[0]); c.channels[0].name="org.qemu"; c.channels[0].connection=LIBXL_CHANNEL_CONNECTION_PTY;
  libxl_device_channel_init(&c.channels[1]); c.channels[1].name="s"; c.channels[1].connection=LIBXL_CHANNEL_CONNECTION_SOCKET; c.channels[1].u.socket.path="/tmp/x";
  c.num_usbctrls=1; c.usbctrls=calloc(1,sizeof(libxl_device_usbctrl)); libxl_device_usbctrl_init(&c.usbctrls[0]);
  c.usbctrls[0].type=LIBXL_USBCTRL_TYPE_QUSB; c.usbctrls[0].version=2; c.usbctrls[0].ports=8; c.usbctrls[0].devid=0;
  c.num_usbdevs=1; c.usbdevs=calloc(1,sizeof(libxl_device_usbdev)); libxl_device_usbdev_init(&c.usbdevs[0]);
  c.usbdevs[0].type=LIBXL_USBDEV_TYPE_HOSTDEV; c.usbdevs[0].u.hostdev.hostbus=1; c.usbdevs[0].u.hostdev.hostaddr=3;
  c.num_disks=1; c.disks=calloc(1,sizeof(libxl_device_disk)); libxl_device_disk_init(&c.disks[0]);
  libxl_defbool_set(&c.disks[0].discard_enable, true); c.disks[0].backend_domname="dd";
  c.num_nics=1; c.nics=calloc(1,sizeof(libxl_device_nic)); libxl_device_nic_init(&c.nics[0]);
  c.nics[0].rate_bytes_per_interval=51200; c.nics[0].rate_interval_usecs=50000; c.nics[0].ifname="vif1";
  c.b_info.num_vcpu_hard_affinity=2; c.b_info.vcpu_hard_affinity=calloc(2,sizeof(libxl_bitmap));
  libxl_bitmap_init(&c.b_info.vcpu_hard_affinity[0]); libxl_cpu_bitmap_alloc(ctx,&c.b_info.vcpu_hard_affinity[0],4); libxl_bitmap_set(&c.b_info.vcpu_hard_affinity[0],2);
  libxl_bitmap_init(&c.b_info.vcpu_hard_affinity[1]); libxl_cpu_bitmap_alloc(ctx,&c.b_info.vcpu_hard_affinity[1],4); libxl_bitmap_set_any(&c.b_info.vcpu_hard_affinity[1]);
  libxl_defbool_set(&c.b_info.numa_placement,false);
  c.c_info.passthrough = LIBXL_PASSTHROUGH_SYNC_PT; c.c_info.ssidref=5;
  c.on_poweroff = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE; c.on_crash = LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART;
  c.b_info.tsc_mode = LIBXL_TSC_MODE_NATIVE_PARAVIRT;
  libxl_defbool_set(&c.b_info.u.pv.e820_host, true);
  char *s=libxl_domain_config_to_json(ctx,&c); fputs(s, stdout); fputs("\f\n", stdout);
  /* HVM with spice */
  libxl_domain_config h; libxl_domain_config_init(&h); h.c_info.type=LIBXL_DOMAIN_TYPE_HVM;
  libxl_domain_build_info_init_type(&h.b_info, LIBXL_DOMAIN_TYPE_HVM);
  libxl_defbool_set(&h.b_info.u.hvm.spice.enable,true); h.b_info.u.hvm.spice.port=5900; h.b_info.u.hvm.spice.host="127.0.0.1";
  libxl_defbool_set(&h.b_info.u.hvm.spice.disable_ticketing,true); h.b_info.u.hvm.keymap="en-us";
  h.b_info.u.hvm.vnc.display=3; h.b_info.u.hvm.soundhw="hda"; h.b_info.u.hvm.bios=LIBXL_BIOS_TYPE_OVMF;
  h.b_info.device_model_version=LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL;
  h.b_info.vnuma_nodes=NULL;
  s=libxl_domain_config_to_json(ctx,&h); fputs(s, stdout); fputs("\f\n", stdout);
  /* HVM with a VM generation id and xenstore data (key order kept) */
  libxl_domain_config g; libxl_domain_config_init(&g); g.c_info.type=LIBXL_DOMAIN_TYPE_HVM;
  libxl_domain_build_info_init_type(&g.b_info, LIBXL_DOMAIN_TYPE_HVM);
  for (int i=0;i<16;i++) g.b_info.u.hvm.ms_vm_genid.bytes[i]=i;
  char *kv[] = {"b","2","a","1",NULL}; g.c_info.xsdata = kv;
  s=libxl_domain_config_to_json(ctx,&g); fputs(s, stdout); fputs("\f\n", stdout);
  libxl_domain_config e; libxl_domain_config_init(&e);
  s=libxl_domain_config_to_json(ctx,&e); fputs(s, stdout);
  return 0;
}
