package engine

import "github.com/tandemdhcp/tandem/netio/wire"

// Configured options in replies. Each level's option data was encoded when
// the config was read (Option.Data), so a reply only chooses and appends:
// for every code the client's ORO asks for, the most specific level that
// has it (Options), checked against where RFC 8415 lets the option go.
// Nothing here allocates: the levels of a reply are pointers into the
// config, gathered in a fixed array while the reply is built.

// maxLevels bounds the option levels of one reply: its reservation, every
// class, the pools of its resources, subnet, global.
const maxLevels = 1 + MaxClasses + 2*wire.MaxIAs + 2

// replyPools remembers the pools the resources of the reply being built
// came from, address pools first: their options are a level.
type replyPools struct {
	na, pd   [wire.MaxIAs]*Options
	nNA, nPD int
}

func (r *replyPools) add(k Kind, o *Options) {
	if o == nil || len(*o) == 0 {
		return
	}
	if k == KindPD {
		if r.nPD < len(r.pd) {
			r.pd[r.nPD] = o
			r.nPD++
		}
		return
	}
	if r.nNA < len(r.na) {
		r.na[r.nNA] = o
		r.nNA++
	}
}

// appendOptions appends the configured options the client asked for.
func (e *Engine) appendOptions(b []byte, in *Input, sn int) []byte {
	m := &in.Pkt.Msg
	if m.NumORO == 0 || !e.hasOptions {
		return b
	}
	var levels [maxLevels]*Options
	n := 0
	add := func(o *Options) {
		if len(*o) > 0 {
			levels[n] = o
			n++
		}
	}
	if e.resv != nil {
		add(&e.resv.Options)
	}
	for cls, i := e.cls, 0; cls != 0; cls, i = cls>>1, i+1 {
		if cls&1 != 0 {
			add(&e.cfg.Classes[i].Options)
		}
	}
	for i := 0; i < e.pools.nNA; i++ {
		add(e.pools.na[i])
	}
	for i := 0; i < e.pools.nPD; i++ {
		add(e.pools.pd[i])
	}
	if sn >= 0 {
		add(&e.subnets[sn].cfg.Options)
	}
	add(&e.cfg.Options)

	// One pass per requested code, in the ORO's order: the first level
	// that has the code wins. A code asked for twice is sent once.
	for i := 0; i < m.NumORO; i++ {
		code := m.ORO[i]
		if !sendable(code, m.Type) || askedBefore(m, i) {
			continue
		}
		for j := 0; j < n; j++ {
			if o, ok := levels[j].Get(code); ok {
				b = wire.AppendOption(b, o.Code, o.Data)
				break
			}
		}
	}
	return b
}

// sendable reports whether an option may go in the answer to a message of
// type t: INFORMATION_REFRESH_TIME only in the Reply to an
// Information-request (RFC 8415 §21.23).
func sendable(code uint16, t wire.MsgType) bool {
	return code != wire.OptInfoRefresh || t == wire.InformationRequest
}

// askedBefore reports whether ORO entry i repeats an earlier one.
func askedBefore(m *wire.Message, i int) bool {
	for j := 0; j < i; j++ {
		if m.ORO[j] == m.ORO[i] {
			return true
		}
	}
	return false
}
