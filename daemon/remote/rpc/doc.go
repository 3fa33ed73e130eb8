// Package rpc is the protocol layer of virtxend's libvirt RPC server: what libvirt's src/rpc (virNetServer,
// virNetServerClient, virNetServerProgram, virKeepAlive) and the daemon's stream and dispatch glue do, for the
// REMOTE program on virtxend-sock and virtxend-sock-ro and the ADMIN program on virtxend-admin-sock. The
// facade that implements the procedures sits on top of it and registers handlers; this package knows nothing
// about domains.
//
// # Wire
//
// A packet is a 4-byte big-endian length (counting itself), a 24-byte Header and an XDR body. Framing is
// bounded: a length under HeaderSize or over MaxPacketSize (32 MiB of header and body, as libvirt counts, plus
// the length word) closes that one connection before anything is allocated. Bodies are go-libvirt's generated Args/Ret/Msg structs, encoded by this package's own XDR codec
// (Marshal, Unmarshal), which also handles the typed-parameter union, never allocates more than its input
// describes, and enforces the protocol's bounds (limits.go: strings, typed parameter lists, migration cookies). Errors travel as remote_error (Error, MarshalError); libvirt's error numbers, domains and message
// templates live in errcodes.go only.
//
// # Dispatch
//
// Each client gets a reader goroutine and a writer goroutine; each call runs in its own goroutine, at most
// Options.MaxClientRequests per client, after which that client is not read until a reply has been written
// (libvirt's max_client_requests), and at most Options.MaxWorkers over all clients, plus Options.PrioWorkers for
// high-priority procedures (libvirt's max_workers and prio_workers; calls wait for a worker in arrival order). Procedures registered Inline (lookups, state: handlers that only read memory)
// run on the reader goroutine instead, and a reply is written by its call's goroutine when nothing else is being
// written: the common round trip then involves no goroutine hand-off, and a reply is one write. An inline call
// allocates no more than its handler does: its record, its reply buffer and the XDR coder are reused. A call is
// checked in libvirt's order:
//
//	unknown program or version      CodeRPC "Cannot find program N version V"
//	procedure outside the protocol  CodeRPC "unknown procedure: N"
//	not opened yet (RequireOpen)    CodeInternalError "internal error: hypervisor connection not open"
//	read-only and not ReadOnlyOK    CodeOperationDenied "operation forbidden: read only access prevents virXxx"
//	no handler registered           CodeNoSupport "this function is not supported by the connection driver: virXxx"
//	undecodable arguments           CodeRPC "Unable to decode message payload"
//
// The procedure tables (numbers, names, public API names, read-only and pre-open flags) in zz_generated.procs.go
// are generated from internal/gen/procs.tsv, the project's table of libvirt's procedures, which internal/gen
// writes from the pinned libvirt release's protocol definitions and public symbols; see internal/gen for how
// the flags are derived.
//
// Replies, events (Client.SendEvent), stream data and keepalive messages of a client leave through one ordered
// queue. A client that lets MaxQueuedEventBytes of events pile up unread is dropped, so that publishing an event
// never waits for a slow reader; stream writers wait for the queue to drain (flow control). Everything queued,
// PONGs included, and the calls being served count against the connection's memory budget
// (Options.MaxClientMemory): over it, the connection is not read, so a client that does not read costs no more.
// At debug level (V(1)) every failed call is logged with its procedure, client and error code.
//
// # Keepalive
//
// PING from a client is always answered with PONG. Once a client probed VIR_DRV_FEATURE_PROGRAM_KEEPALIVE (or
// the facade calls Client.StartKeepalive), the server pings it after KeepaliveInterval of silence and drops it
// after KeepaliveCount unanswered pings.
//
// # Using it
//
//	remote := rpc.NewRemoteProgram(facade.supportsFeature)
//	rpc.Register(remote, rpc.ProcConnectOpen, func(ctx context.Context, call *rpc.Call, args *rpc.ConnectOpenArgs) (*struct{}, error) {
//		if args.Flags&libvirt.ConnectRo != 0 {
//			call.Client.SetReadOnly()
//		}
//		call.Client.SetOpened(true)
//		return nil, nil
//	})
//	rpc.Register(remote, rpc.ProcDomainLookupByName, facade.lookupByName)
//	srv := rpc.NewServer(rpc.Options{Name: "virtxend"}, remote)
//	go srv.Serve(ctx, rwListener, rpc.ListenerOpts{})
//	go srv.Serve(ctx, roListener, rpc.ListenerOpts{ReadOnly: true})
//
// A handler can open the call's Stream (Call.OpenStream) and pump it from other goroutines once it returned,
// keep per-connection state with Client.SetValue, clean it up with Client.OnClose, and push events with
// Client.SendEvent.
package rpc

//go:generate go run ./internal/gen -table internal/gen/procs.tsv -out zz_generated.procs.go
