package rpc

import (
	"reflect"

	libvirt "github.com/digitalocean/go-libvirt"
)

// Bounds of libvirt's protocol files (remote_protocol.x, admin_protocol.x) that the XDR codec enforces. libvirt's
// rpcgen code refuses a longer string or array while decoding, and the call then fails with "Unable to decode
// message payload"; this codec does the same, so a client meets the same limits here as against libvirt.
const (
	// MaxString bounds every string (REMOTE_STRING_MAX, ADMIN_STRING_MAX): 4 MiB.
	MaxString = 4194304
	// MaxMigrateCookie bounds a migration cookie (REMOTE_MIGRATE_COOKIE_MAX): 4 MiB.
	MaxMigrateCookie = 4194304
	// MaxMigrateParams bounds the typed parameters of the migration calls (REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX).
	MaxMigrateParams = 64
	// MaxSchedulerParams bounds the scheduler parameters of a call (REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX).
	MaxSchedulerParams = 16
)

// argBounds are the bounded variable-length fields of the call arguments the daemon decodes, by go-libvirt Args
// type and field, with the bound remote_protocol.x gives them. Only arguments are listed: what the daemon
// sends, a client's library bounds itself.
var argBounds = map[reflect.Type]map[string]int{
	reflect.TypeFor[libvirt.DomainSetSchedulerParametersArgs]():      {"Params": MaxSchedulerParams},
	reflect.TypeFor[libvirt.DomainSetSchedulerParametersFlagsArgs](): {"Params": MaxSchedulerParams},
	reflect.TypeFor[libvirt.DomainSetBlkioParametersArgs]():          {"Params": 16}, // REMOTE_DOMAIN_BLKIO_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetMemoryParametersArgs]():         {"Params": 16}, // REMOTE_DOMAIN_MEMORY_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetNumaParametersArgs]():           {"Params": 16}, // REMOTE_DOMAIN_NUMA_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetInterfaceParametersArgs]():      {"Params": 16}, // REMOTE_DOMAIN_INTERFACE_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetBlockIOTuneArgs]():              {"Params": 32}, // REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetThrottleGroupArgs]():            {"Params": 32}, // REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainBlockCopyArgs]():                   {"Params": 16}, // REMOTE_DOMAIN_BLOCK_COPY_PARAMETERS_MAX
	reflect.TypeFor[libvirt.DomainSetPerfEventsArgs]():               {"Params": 64}, // REMOTE_DOMAIN_PERF_EVENTS_MAX
	reflect.TypeFor[libvirt.DomainSetIothreadParamsArgs]():           {"Params": 64}, // REMOTE_DOMAIN_IOTHREAD_PARAMS_MAX
	reflect.TypeFor[libvirt.DomainSaveParamsArgs]():                  {"Params": 64}, // REMOTE_DOMAIN_SAVE_PARAMS_MAX
	reflect.TypeFor[libvirt.DomainRestoreParamsArgs]():               {"Params": 64}, // REMOTE_DOMAIN_SAVE_PARAMS_MAX
	reflect.TypeFor[libvirt.DomainSetLaunchSecurityStateArgs]():      {"Params": 64}, // REMOTE_DOMAIN_LAUNCH_SECURITY_STATE_PARAMS_MAX
	reflect.TypeFor[libvirt.NodeSetMemoryParametersArgs]():           {"Params": 64}, // REMOTE_NODE_MEMORY_PARAMETERS_MAX
	reflect.TypeFor[libvirt.NetworkPortSetParametersArgs]():          {"Params": 16}, // REMOTE_NETWORK_PORT_PARAMETERS_MAX
	reflect.TypeFor[libvirt.ConnectSetIdentityArgs]():                {"Params": 20}, // REMOTE_CONNECT_IDENTITY_PARAMS_MAX

	reflect.TypeFor[libvirt.DomainMigrateBegin3ParamsArgs]():         {"Params": MaxMigrateParams},
	reflect.TypeFor[libvirt.DomainMigratePrepare3ParamsArgs]():       {"Params": MaxMigrateParams, "CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePrepareTunnel3ParamsArgs](): {"Params": MaxMigrateParams, "CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePerform3ParamsArgs]():       {"Params": MaxMigrateParams, "CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateFinish3ParamsArgs]():        {"Params": MaxMigrateParams, "CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateConfirm3ParamsArgs]():       {"Params": MaxMigrateParams, "CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePrepare3Args]():             {"CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePrepareTunnel3Args]():       {"CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePerform3Args]():             {"CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateFinish3Args]():              {"CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateConfirm3Args]():             {"CookieIn": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigratePerformArgs]():              {"Cookie": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateFinishArgs]():               {"Cookie": MaxMigrateCookie},
	reflect.TypeFor[libvirt.DomainMigrateFinish2Args]():              {"Cookie": MaxMigrateCookie},

	reflect.TypeFor[libvirt.DomainPinVcpuArgs]():                {"Cpumap": 2048}, // REMOTE_CPUMAP_MAX
	reflect.TypeFor[libvirt.DomainPinVcpuFlagsArgs]():           {"Cpumap": 2048},
	reflect.TypeFor[libvirt.DomainPinEmulatorArgs]():            {"Cpumap": 2048},
	reflect.TypeFor[libvirt.DomainPinIothreadArgs]():            {"Cpumap": 2048},
	reflect.TypeFor[libvirt.DomainSendKeyArgs]():                {"Keycodes": 16},     // REMOTE_DOMAIN_SEND_KEY_MAX
	reflect.TypeFor[libvirt.SecretSetValueArgs]():               {"Value": 65536},     // REMOTE_SECRET_VALUE_MAX
	reflect.TypeFor[libvirt.AuthSaslStartArgs]():                {"Data": 65536},      // REMOTE_AUTH_SASL_DATA_MAX
	reflect.TypeFor[libvirt.AuthSaslStepArgs]():                 {"Data": 65536},      // REMOTE_AUTH_SASL_DATA_MAX
	reflect.TypeFor[libvirt.ConnectBaselineCPUArgs]():           {"XMLCPUs": 256},     // REMOTE_CPU_BASELINE_MAX
	reflect.TypeFor[libvirt.ConnectBaselineHypervisorCPUArgs](): {"XMLCPUs": 256},     // REMOTE_CPU_BASELINE_MAX
	reflect.TypeFor[libvirt.DomainFsfreezeArgs]():               {"Mountpoints": 256}, // REMOTE_DOMAIN_FSFREEZE_MOUNTPOINTS_MAX
	reflect.TypeFor[libvirt.DomainFsthawArgs]():                 {"Mountpoints": 256},
	reflect.TypeFor[libvirt.NodeGetFreePagesArgs]():             {"Pages": 1024}, // REMOTE_NODE_MAX_CELLS
	reflect.TypeFor[libvirt.NodeAllocPagesArgs]():               {"PageSizes": 1024, "PageCounts": 1024},
	reflect.TypeFor[libvirt.DomainAuthorizedSshKeysSetArgs]():   {"Keys": 2048}, // REMOTE_DOMAIN_AUTHORIZED_SSH_KEYS_MAX
}

// fieldBound returns the bound of field name of struct t, or 0 when it has none beyond the input's size.
func fieldBound(t reflect.Type, name string) int {
	return argBounds[t][name]
}
