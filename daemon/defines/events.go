package defines

// EventSink receives the events the Store records. Name is the domain the event is about, empty when it is
// not known. It has the same method set as specdir.EventSink, so one sink serves both.
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
	// ReasonParseError: a NAME.xml does not parse or cannot be read.
	ReasonParseError = "ParseError"
	// ReasonConflict: a define claims a name or UUID another source already holds.
	ReasonConflict = "SourceConflict"
	// ReasonUndefined: a NAME.xml is gone; its domain was deleted or became transient.
	ReasonUndefined = "Undefined"
	// ReasonStoreError: writing the store failed.
	ReasonStoreError = "StoreError"
)

type nopSink struct{}

func (nopSink) Event(string, string, string, string) {}
