package specdir

// EventSink receives the events a Loader records. The daemon routes them to its log and to the RPC facade.
// Name is the domain the event is about, empty when the domain is not known (a file that never parsed).
type EventSink interface {
	Event(name, eventType, reason, message string)
}

// Event types, as in Kubernetes events.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// Event reasons.
const (
	// ReasonLoaded: a domain was created from a file.
	ReasonLoaded = "SpecLoaded"
	// ReasonUpdated: a domain's spec changed because its file changed.
	ReasonUpdated = "SpecUpdated"
	// ReasonRemoved: a domain's file is gone and its object was deleted.
	ReasonRemoved = "SpecRemoved"
	// ReasonReplaced: a file changed a domain's UUID; the old object is deleted and the new one created once
	// the old domain is gone.
	ReasonReplaced = "SpecReplaced"
	// ReasonParseError: a file does not parse (or cannot be read).
	ReasonParseError = "ParseError"
	// ReasonParseFixed: a file that did not parse parses again.
	ReasonParseFixed = "ParseFixed"
	// ReasonConflict: a file claims a name or UUID that another file or another source already holds.
	ReasonConflict = "SourceConflict"
	// ReasonStoreError: writing the store failed; the pass is retried.
	ReasonStoreError = "StoreError"
)

type nopSink struct{}

func (nopSink) Event(string, string, string, string) {}
