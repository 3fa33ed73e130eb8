package sim

import (
	"context"
	"os"

	"github.com/virtxend/virtxend/libxl"
)

// savePath saves a domain into a new file at path, as a caller of the fd-based API does.
func savePath(h *Host, ctx context.Context, domid libxl.DomID, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := h.SaveDomain(ctx, domid, f); err != nil {
		f.Close()
		if fi, serr := os.Stat(path); serr == nil && fi.Size() == 0 {
			os.Remove(path)
		}
		return err
	}
	return nil
}

// restorePath restores a domain from the file at path.
func restorePath(h *Host, ctx context.Context, cfg *libxl.DomainConfig, path string, opts libxl.CreateOptions) (libxl.DomID, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return h.RestoreDomain(ctx, cfg, f, opts)
}
