package sim

import (
	"context"
	"errors"

	"github.com/virtxend/virtxend/libxl"
)

// Events returns the stream of domain events (created, state-changed on pause and unpause, shutdown, death)
// from now on. It is closed when ctx ends or the host closes. A subscriber that falls more than
// Options.EventBuffer events behind loses events and receives libxl.EventOverflow: it must re-list.
func (h *Host) Events(ctx context.Context) (<-chan libxl.Event, error) {
	ch, err := h.events.Subscribe(ctx)
	if errors.Is(err, libxl.ErrHubClosed) {
		return nil, ErrClosed
	}
	return ch, err
}
