package metrics

import "github.com/gopcp/gopcp/protocol"

// Stores (pmStore): a source some of whose metrics accept values implements
// storer; the registry routes each value set to its metric's source, and the
// server checks every value set of a store before it applies any. Which clients
// may store what is the source's decision, from what StoreOpts says of the
// client, so that the rule sits beside the metric it guards.

// StoreOpts describes the client a store comes from.
type StoreOpts struct {
	// Local: the client is on this host (the unix socket or a loopback
	// address). pmcd lets only local clients store into pmcd.control.*.
	Local bool
	// Trusted: the client proved who it is (the unix socket, or a verified
	// certificate). A loopback TCP client may be proxyd relaying someone
	// remote, so Local alone never stands for it.
	Trusted bool
	// Root: the client is the superuser by the kernel's account of it: a
	// unix-socket client whose credentials (SO_PEERCRED) say uid 0. PCP's proc
	// agent takes hotproc.control.* stores only from such a client.
	Root bool
	// Client: the settings that belong to this client connection, where a
	// store into proc.control.perclient.* goes (threads.go); nil for a caller
	// with no connection, whose per-client stores are refused.
	Client *ClientSettings
}

// storer is implemented by sources whose metrics accept stores.
type storer interface {
	// checkStore checks a store into the metric sel without applying it. It
	// returns 0 or the PCP error code the client gets: PM_ERR_PERMISSION for a
	// metric that takes no store or a client that may not store into it.
	checkStore(sel int, vs *protocol.ValueSet, o StoreOpts) int32
	// applyStore applies a store checkStore accepted.
	applyStore(sel int, vs *protocol.ValueSet, o StoreOpts)
}

// storeTarget finds the source and selector of the metric a value set names.
func (r *Registry) storeTarget(p protocol.PMID) (storer, int, bool) {
	e, ok := r.byPMID[p]
	if !ok {
		return nil, 0, false
	}
	st, ok := r.sources[e.src].src.(storer)
	return st, e.sel, ok
}

// CheckStore checks a store into one metric for a client described by o,
// without applying it: 0, or the PCP error code to answer with (PM_ERR_PERMISSION
// for a metric that takes no store).
func (r *Registry) CheckStore(vs *protocol.ValueSet, o StoreOpts) int32 {
	st, sel, ok := r.storeTarget(vs.PMID)
	if !ok {
		return protocol.ErrPermission
	}
	return st.checkStore(sel, vs, o)
}

// ApplyStore applies a store CheckStore accepted for the same client.
func (r *Registry) ApplyStore(vs *protocol.ValueSet, o StoreOpts) {
	if st, sel, ok := r.storeTarget(vs.PMID); ok {
		st.applyStore(sel, vs, o)
	}
}
