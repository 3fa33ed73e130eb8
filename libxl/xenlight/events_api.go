//go:build xenlight

package xenlight

import (
	"context"
	"errors"

	"github.com/virtxend/virtxend/libxl"
)

// Events returns the stream of domain events from now on: EventShutdown and EventDeath from libxl's domain
// death watch (armed on every guest), EventCreated for the domains this adapter creates or restores and for
// those other toolstacks create, EventStateChanged when a guest is paused or unpaused. It is closed when ctx
// ends or the hypervisor closes. A subscriber that falls more than Options.EventBuffer events behind loses
// events and receives libxl.EventOverflow: it must re-list.
func (h *Hypervisor) Events(ctx context.Context) (<-chan libxl.Event, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	ch, err := h.events.Subscribe(ctx)
	if errors.Is(err, libxl.ErrHubClosed) {
		return nil, ErrClosed
	}
	return ch, err
}
