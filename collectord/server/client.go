package server

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gopcp/gopcp/collectord/metrics"
	"github.com/gopcp/gopcp/protocol"
)

// client is one connection's state.
type client struct {
	srv   *Server
	set   Settings // the server's settings when this client connected
	conn  *protocol.Conn
	raw   net.Conn // the socket under conn (and under TLS): Close and Shutdown use it
	peer  net.Addr
	tls   bool
	start time.Time
	slot  uint32
	unix  bool // on a unix-domain socket: exempt from -Q's plaintext refusal and the per-address limit
	// certAuth: the client presented a certificate, verified in the TLS handshake.
	certAuth bool
	addr     netip.Addr // the TCP peer's address, for the per-address limit

	// Guarded by srv.mu: which slots the connection holds (limits.go).
	handshaking bool
	served      bool

	mu     sync.Mutex // guards whoami for the pmcd.client metrics
	whoami string

	// proc holds this connection's proc.control.perclient.* settings (threads);
	// the proc source reads and sets it through the options it is handed.
	proc metrics.ClientSettings

	profiles map[int32]*protocol.Profile

	// sc is the scratch the request being answered holds (nil between requests).
	sc *replyScratch
}

// replyScratch is what a reply needs besides the request: the reply's value
// sets, values and their payload arena, and the encoded reply. Connections share
// them through Server.scratch, taking one once a request's answer is known and
// giving it back once the reply is written: an idle connection holds none (200
// idle clients each kept about 12 KiB of it when every connection had its own),
// and a steady stream of fetches still allocates nothing, since the pool hands
// the same few back. A fetch takes it only after the registry has answered (the
// registry lends the results, metrics.Registry.FetchLent): under 200 busy clients
// most fetches are waiting for a source another is reading, and they wait holding
// the registry's scratch only, not this one as well.
type replyScratch struct {
	vsets  []protocol.ValueSet
	values []protocol.Value
	arena  []byte
	out    []byte
}

// maxPooledScratch bounds what a scratch may hold and still go back to the pool:
// one request for every process's details can grow it to megabytes, which the
// next small fetch should not keep alive.
const maxPooledScratch = 256 << 10

// scratch returns the scratch of the request being answered, taking one from the
// server's pool on first use.
func (c *client) scratch() *replyScratch {
	if c.sc == nil {
		if v, ok := c.srv.scratch.Get().(*replyScratch); ok {
			c.sc = v
		} else {
			c.sc = &replyScratch{}
		}
	}
	return c.sc
}

// putScratch gives the request's scratch back once its reply has been written.
func (c *client) putScratch() {
	sc := c.sc
	if sc == nil {
		return
	}
	c.sc = nil
	if cap(sc.out)+cap(sc.arena) > maxPooledScratch ||
		cap(sc.values)*int(unsafe.Sizeof(protocol.Value{})) > maxPooledScratch {
		return
	}
	c.srv.scratch.Put(sc)
}

// connStack is the stack a connection's goroutine is grown to, in one step,
// before anything else (stackgrow.To in handle): room for a fetch through the
// metric sources. Left alone, the goroutine doubled its 2 KiB stack from deep
// inside the first fetch, copying (and walking the tables of) every frame above
// each time, which showed as several per cent of a connect+fetch in the CPU
// profile. 8 KiB holds the deepest fetch of the benchmark sets (without the step
// the stacks of 200 idle clients stayed at 8 KiB too). 16 KiB was the same
// single copy, but 8 KiB more for every connection, idle ones included (200
// idle clients: RSS 20.2 -> 18.8 MiB with 8 KiB, connection CPU the same within
// noise). A TLS connection grows again, to protocol's handshake size.
const connStack = 8 << 10

// dispatch answers one request. It returns an error when the connection must be
// dropped: a PDU that does not decode, or one that is not a request (CREDS again,
// ATTR, a reply sent as a request, CONTROL_REQ), gets PM_ERR_IPC and closes the
// client, as a bad header does: a client that sends garbage is not worth serving,
// and each PDU it sends cannot cost a log line (they are rate-limited).
func (c *client) dispatch(raw []byte, log *slog.Logger) error {
	c.srv.own.countIn(raw) // pmcd.pdu_in.* (pducount.go)
	p, _, err := protocol.Decode(raw)
	if err != nil {
		c.sendError(protocol.ErrIPC)
		c.srv.logBadPDU(log, "client dropped: malformed PDU", "err", err)
		return errBadPDU
	}
	if !isRequest(p) {
		c.sendError(protocol.ErrIPC)
		c.srv.logBadPDU(log, "client dropped: unexpected PDU", "type", protocol.TypeName(p.Type()))
		return errBadPDU
	}
	defer c.putScratch() // after the write: the reply may point into it
	reply := c.answer(p)
	if reply == nil {
		return nil
	}
	// The Conn arms the write deadline lazily (not once per reply: timers cost).
	c.conn.WriteTimeout = c.set.RequestTimeout
	c.srv.own.countOut(reply.Type()) // pmcd.pdu_out.*
	// Encoded into the pooled scratch rather than the Conn's own buffer, which
	// would keep the largest reply a connection ever had for as long as it stays.
	sc := c.scratch()
	sc.out = protocol.Encode(sc.out[:0], reply, c.conn.From)
	return c.conn.WriteRaw(sc.out)
}

func errPDU(code int32) protocol.PDU { return &protocol.ErrorPDU{Code: code} }

// codeOf turns a registry error into its PCP code.
func codeOf(err error) int32 {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return protocol.ErrGeneric
}

func (c *client) answer(p protocol.PDU) protocol.PDU {
	reg := c.srv.Registry
	switch p := p.(type) {
	case *protocol.Profile:
		if c.profiles == nil {
			c.profiles = map[int32]*protocol.Profile{}
		}
		if _, ok := c.profiles[p.CtxID]; !ok && len(c.profiles) >= MaxProfiles {
			return errPDU(protocol.ErrNoContext)
		}
		c.profiles[p.CtxID] = p
		return nil
	case *protocol.Fetch:
		return c.fetch(p)
	case *protocol.DescReq:
		m, ok := reg.ByPMID(p.PMID)
		if !ok {
			return errPDU(protocol.ErrPMID)
		}
		return &protocol.DescPDU{Desc: m.Desc}
	case *protocol.DescIDs:
		out := &protocol.Descs{Descs: make([]protocol.Desc, len(p.PMIDs))}
		for i, id := range p.PMIDs {
			m, ok := reg.ByPMID(id)
			if !ok {
				if len(p.PMIDs) == 1 {
					return errPDU(protocol.ErrPMID)
				}
				out.Descs[i] = protocol.Desc{PMID: protocol.PMIDNull}
				continue
			}
			out.Descs[i] = m.Desc
		}
		return out
	case *protocol.InstanceReq:
		return c.instance(p)
	case *protocol.TextReq:
		return c.text(p)
	case *protocol.NameReq:
		if p.Child {
			names, leaf, err := reg.Children(p.Name)
			if err != nil {
				return errPDU(codeOf(err))
			}
			out := &protocol.PMNSNames{Names: names}
			if p.Subtype == 1 {
				out.Status = make([]int32, len(names))
				for i, l := range leaf {
					if !l {
						out.Status[i] = protocol.PMNSNonLeaf
					}
				}
			}
			return out
		}
		names, err := reg.Traverse(p.Name)
		if err != nil {
			return errPDU(codeOf(err))
		}
		return &protocol.PMNSNames{Names: names}
	case *protocol.PMNSNames:
		out := &protocol.PMNSIDs{IDs: make([]protocol.PMID, len(p.Names))}
		for i, n := range p.Names {
			if m, ok := reg.ByName(n); ok {
				out.IDs[i] = m.Desc.PMID
				out.Status++
			} else {
				out.IDs[i] = protocol.PMIDNull
			}
		}
		if len(p.Names) == 1 && out.Status == 0 {
			return errPDU(protocol.ErrName)
		}
		return out
	case *protocol.PMNSIDs:
		if len(p.IDs) == 0 {
			return errPDU(protocol.ErrPMID)
		}
		names, err := reg.NamesOf(p.IDs[0])
		if err != nil {
			return errPDU(codeOf(err))
		}
		return &protocol.PMNSNames{Names: names}
	case *protocol.LabelReq:
		return c.labels(p)
	case *protocol.Result:
		return c.store(p)
	}
	// isRequest let through only the types above.
	return errPDU(protocol.ErrIPC)
}

// isRequest reports the PDU types a client may send once the handshake is done:
// those answer handles.
func isRequest(p protocol.PDU) bool {
	switch p.(type) {
	case *protocol.Profile, *protocol.Fetch, *protocol.DescReq, *protocol.DescIDs, *protocol.InstanceReq,
		*protocol.TextReq, *protocol.NameReq, *protocol.PMNSNames, *protocol.PMNSIDs, *protocol.LabelReq,
		*protocol.Result:
		return true
	}
	return false
}

// store accepts pmcd.client.whoami from any client (for its own session) and
// hands every other value set to the registry, whose sources decide which
// clients may store into their metrics (metrics.StoreOpts). Every value set is
// checked before any is applied.
func (c *client) store(p *protocol.Result) protocol.PDU {
	whoami := protocol.NewPMID(2, 6, 0)
	reg := c.srv.Registry
	opts := metrics.StoreOpts{Local: c.unix || c.addr.IsLoopback(), Trusted: c.trusted(), Client: &c.proc,
		Root: c.unix && peerIsRoot(c.raw)}
	for i := range p.VSets {
		vs := &p.VSets[i]
		if vs.PMID == whoami {
			if vs.NumVal != 1 || vs.ValFmt == protocol.ValFmtInsitu {
				return errPDU(protocol.ErrPermission)
			}
			continue
		}
		if code := reg.CheckStore(vs, opts); code != 0 {
			return errPDU(code)
		}
	}
	for i := range p.VSets {
		vs := &p.VSets[i]
		if vs.PMID != whoami {
			reg.ApplyStore(vs, opts)
			continue
		}
		s := vs.Values[0].Str()
		if len(s) > 256 {
			s = s[:256]
		}
		c.mu.Lock()
		c.whoami = s
		c.mu.Unlock()
	}
	return errPDU(0)
}

func (c *client) fetch(p *protocol.Fetch) protocol.PDU {
	prof, ok := c.profiles[p.CtxID]
	if !ok {
		return errPDU(protocol.ErrNoProfile)
	}
	reg := c.srv.Registry
	results, lent := reg.FetchLent(p.PMIDs, metrics.FetchOpts{Only: profileOnly(prof), Trusted: c.trusted(), Client: &c.proc})
	now := time.Now()
	sc := c.scratch()
	sc.vsets = sc.vsets[:0]
	// Room for every value at once: a fetch of every process's details has tens
	// of thousands, and growing them by append (1.25x a step) copied five times
	// their size (8 MB a 1,000-process fetch, its largest allocation).
	n := 0
	for _, r := range results {
		n += len(r.Values)
	}
	sc.values = slices.Grow(sc.values[:0], n)
	sc.arena = sc.arena[:0]
	for _, r := range results {
		vs := protocol.ValueSet{PMID: r.PMID}
		m, known := reg.ByPMID(r.PMID)
		switch {
		case r.Err < 0:
			vs.NumVal = r.Err
		case !known:
			vs.NumVal = protocol.ErrPMID
		default:
			start := len(sc.values)
			for _, v := range r.Values {
				if !profileAllows(prof, m.Desc.InDom, v.Inst) {
					continue
				}
				// encodeValue copies the value (payloads into the arena): nothing
				// of the lent results is left in the reply once they go back.
				sc.values = append(sc.values, sc.encodeValue(m.Desc.Type, v))
			}
			vs.Values = sc.values[start:len(sc.values):len(sc.values)]
			vs.NumVal = int32(len(vs.Values))
			if m.Desc.Type != protocol.Type32 && m.Desc.Type != protocol.TypeU32 {
				vs.ValFmt = protocol.ValFmtDynamic
			}
		}
		sc.vsets = append(sc.vsets, vs)
	}
	reg.Return(&lent)
	return &protocol.Result{Highres: p.Highres, Sec: now.Unix(), Nsec: int64(now.Nanosecond()), VSets: sc.vsets}
}

// encodeValue lays a value out as pmcd does: 32-bit integers insitu, the rest in
// value blocks whose payload lives in the scratch's arena.
func (sc *replyScratch) encodeValue(typ int32, v metrics.Value) protocol.Value {
	out := protocol.Value{Inst: v.Inst, VType: uint8(typ)}
	start := len(sc.arena)
	switch typ {
	case protocol.Type32, protocol.TypeU32:
		out.Insitu = uint32(v.U)
		return out
	case protocol.Type64, protocol.TypeU64:
		sc.arena = binary.BigEndian.AppendUint64(sc.arena, v.U)
	case protocol.TypeFloat:
		sc.arena = binary.BigEndian.AppendUint32(sc.arena, math.Float32bits(float32(v.F)))
	case protocol.TypeDouble:
		sc.arena = binary.BigEndian.AppendUint64(sc.arena, math.Float64bits(v.F))
	case protocol.TypeString:
		sc.arena = append(sc.arena, v.S...)
		sc.arena = append(sc.arena, 0)
	default:
		out.VType = uint8(protocol.TypeAggregate)
		sc.arena = append(sc.arena, v.S...)
	}
	out.Payload = sc.arena[start:len(sc.arena):len(sc.arena)]
	return out
}

// trusted reports whether the client may see other processes' details (the
// per-process metrics): it is local, on the unix socket, or it proved who it is
// with a client certificate verified in the TLS handshake. PCP's proc agent draws
// the same line (local or authenticated clients only).
func (c *client) trusted() bool { return c.unix || c.certAuth }

// profileOnly gives the registry the instances a profile keeps when it names them
// (pmval -i, pmrep -i: a few processes of thousands), so that a source reads only
// those; profileAllows still filters every value.
func profileOnly(p *protocol.Profile) metrics.OnlyFunc {
	if len(p.Entries) == 0 && p.GState == protocol.ProfileInclude {
		return nil
	}
	return func(indom protocol.InDom) ([]uint32, bool) {
		for i := range p.Entries {
			e := &p.Entries[i]
			if e.InDom != indom {
				continue
			}
			if e.State != protocol.ProfileExclude {
				return nil, false // all but some: every instance must be read
			}
			out := make([]uint32, len(e.Insts))
			for k, in := range e.Insts {
				out[k] = uint32(in)
			}
			return out, true
		}
		if p.GState == protocol.ProfileExclude {
			return nil, true // nothing of this domain is wanted
		}
		return nil, false
	}
}

// profileAllows applies the client's instance profile to one value.
func profileAllows(p *protocol.Profile, indom protocol.InDom, inst uint32) bool {
	if indom == protocol.InDomNull {
		return true
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		if e.InDom != indom {
			continue
		}
		listed := false
		for _, in := range e.Insts {
			if uint32(in) == inst {
				listed = true
				break
			}
		}
		if e.State == protocol.ProfileExclude {
			return listed
		}
		return !listed
	}
	return p.GState == protocol.ProfileInclude
}

func (c *client) instance(p *protocol.InstanceReq) protocol.PDU {
	insts, err := c.srv.Registry.InstancesOf(p.InDom, metrics.FetchOpts{Trusted: c.trusted(), Client: &c.proc})
	if err != nil {
		return errPDU(codeOf(err))
	}
	out := &protocol.InstancePDU{InDom: p.InDom}
	switch {
	case p.Inst == protocol.InNull && p.Name == "":
		out.Instances = make([]protocol.Instance, len(insts))
		for i, in := range insts {
			out.Instances[i] = protocol.Instance{ID: in.ID, Name: in.Name}
		}
	case p.Name == "":
		for _, in := range insts {
			if in.ID == p.Inst {
				out.Instances = []protocol.Instance{{ID: protocol.InNull, Name: in.Name}}
				return out
			}
		}
		return errPDU(protocol.ErrInst)
	default:
		// Exact match wins; else a name without spaces matches an instance name up
		// to its first space ("5" finds "5 minute"), as libpcp_pmda does.
		found := -1
		for i, in := range insts {
			if in.Name == p.Name {
				found = i
				break
			}
		}
		if found < 0 && !strings.Contains(p.Name, " ") {
			for i, in := range insts {
				if first, _, _ := strings.Cut(in.Name, " "); first == p.Name {
					found = i
					break
				}
			}
		}
		if found < 0 {
			// Names a source knows besides the listed ones (a bare pid).
			if id, ok := c.srv.Registry.LookupName(p.InDom, p.Name, insts); ok {
				out.Instances = []protocol.Instance{{ID: id}}
				return out
			}
			return errPDU(protocol.ErrInst)
		}
		out.Instances = []protocol.Instance{{ID: insts[found].ID}}
	}
	return out
}

func (c *client) text(p *protocol.TextReq) protocol.PDU {
	reg := c.srv.Registry
	help := p.Kind&protocol.TextHelp != 0
	switch {
	case p.Kind&protocol.TextInDom != 0:
		s, ok := reg.InDomText(protocol.InDom(p.Ident), help)
		if !ok {
			return errPDU(protocol.ErrInDom)
		}
		return &protocol.TextPDU{Ident: p.Ident, Text: s}
	case p.Kind&protocol.TextPMID != 0:
		m, ok := reg.ByPMID(protocol.PMID(p.Ident))
		if !ok {
			return errPDU(protocol.ErrPMID)
		}
		if help {
			return &protocol.TextPDU{Ident: p.Ident, Text: m.Help()}
		}
		return &protocol.TextPDU{Ident: p.Ident, Text: m.OneLine()}
	}
	return errPDU(protocol.ErrText)
}

func (c *client) labels(p *protocol.LabelReq) protocol.PDU {
	reg := c.srv.Registry
	out := &protocol.LabelPDU{Ident: p.Ident, Kind: p.Kind}
	one := func(json string, flags int32) protocol.PDU {
		if json == "" {
			return out // no labels at this level
		}
		set, err := protocol.NewLabelSet(protocol.InNull, json, uint8(flags))
		if err != nil {
			return errPDU(protocol.ErrGeneric)
		}
		if len(set.Labels) > 0 {
			out.Sets = []protocol.LabelSet{set}
		}
		return out
	}
	switch p.Kind {
	case protocol.LabelContext:
		return one(reg.ContextLabels(), protocol.LabelContext)
	case protocol.LabelDomain:
		json, ok := reg.DomainLabels(p.Ident)
		if !ok {
			return errPDU(protocol.ErrNoAgent)
		}
		return one(json, protocol.LabelDomain)
	case protocol.LabelCluster:
		if _, ok := reg.ByPMID(protocol.PMID(p.Ident)); !ok {
			return errPDU(protocol.ErrPMID)
		}
		return out
	case protocol.LabelItem:
		if _, ok := reg.ByPMID(protocol.PMID(p.Ident)); !ok {
			return errPDU(protocol.ErrPMID)
		}
		return one(reg.ItemLabels(protocol.PMID(p.Ident)), protocol.LabelItem)
	case protocol.LabelInDom:
		json, ok := reg.InDomLabels(protocol.InDom(p.Ident))
		if !ok {
			return errPDU(protocol.ErrInDom)
		}
		return one(json, protocol.LabelInDom)
	case protocol.LabelInstances:
		// The instances with their labels are the instance list: the same trust
		// decision as an instance request (processes only for trusted clients).
		in := protocol.InDom(p.Ident)
		insts, err := reg.InstancesOf(in, metrics.FetchOpts{Trusted: c.trusted(), Client: &c.proc})
		if err != nil {
			return errPDU(codeOf(err))
		}
		out.Sets = make([]protocol.LabelSet, len(insts))
		for i, inst := range insts {
			json := reg.InstanceLabels(in, inst)
			if json == "" {
				out.Sets[i] = protocol.LabelSet{Inst: inst.ID}
				continue
			}
			set, err := protocol.NewLabelSet(inst.ID, json, uint8(protocol.LabelInstances))
			if err != nil {
				// A name the label encoder refuses: the instance goes unlabelled
				// rather than fail the whole domain.
				set = protocol.LabelSet{Inst: inst.ID}
			}
			out.Sets[i] = set
		}
		return out
	}
	return errPDU(protocol.ErrType)
}
