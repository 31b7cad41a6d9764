package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is everything the engine needs to decide. It is plain data; the
// YAML file is parsed elsewhere (engine/config) and turned into this.
type Config struct {
	// ServerDUID is this server's DUID (SERVERID option data).
	ServerDUID []byte
	// Preference is sent in ADVERTISE (RFC 8415 §21.8); -1 sends none.
	Preference int
	// RapidCommit lets a SOLICIT with Rapid Commit be answered by a REPLY
	// that commits the lease (RFC 8415 §18.3.1).
	RapidCommit bool

	// Lifetimes given to clients. T1/T2 of 0 mean 0.5 and 0.8 × preferred.
	Preferred, Valid, T1, T2 time.Duration

	// ReclaimAfter is how long an EXPIRED or RELEASED binding is remembered
	// so the same client gets the same resource back; after it the record is
	// freed. Another client may take the resource sooner if the pool needs it.
	ReclaimAfter time.Duration
	// DeclineHold is how long a DECLINEd address stays ABANDONED.
	DeclineHold time.Duration

	// Options are the global options (the least specific level; see
	// Options for how levels combine).
	Options Options
	// Classes are the client classes, in config order: a client belongs
	// to every class whose Match it meets. Pools name them to restrict
	// who draws from them; their options apply to their members. At most
	// MaxClasses.
	Classes []Class
	// Unicast is what the server does with a REQUEST, RENEW, RELEASE or
	// DECLINE sent to it by unicast, not relayed (RFC 8415 §16, §18.3).
	Unicast UnicastPolicy

	Subnets []SubnetConfig

	// Relationships are the RFC 8156 failover relationships this server
	// takes part in; a subnet joins one by naming it. None: a standalone
	// server, which behaves exactly as if failover did not exist.
	Relationships []RelationshipConfig
}

// RelationshipConfig is one failover relationship, as the engine needs it
// (the partner link's addresses, keepalive and TLS are the replicator's).
type RelationshipConfig struct {
	Name    string // what SubnetConfig.Relationship and the journal call it
	Primary bool   // this server's role: primary (true) or secondary
	// MCLT is the maximum client lead time (RFC 8156 §4.4); 0 = DefaultMCLT.
	MCLT time.Duration
	// AutoPartnerDown is how long COMMUNICATIONS-INTERRUPTED lasts before
	// PARTNER-DOWN is entered without an operator; 0 = never.
	AutoPartnerDown time.Duration
	// PDSecondaryShare is the secondary's share of free delegable prefixes
	// (proportional allocation; used once the replicator moves prefixes).
	PDSecondaryShare float64
}

// Relationship defaults owned by the engine, which uses them; the config
// file's defaults (engine/config) and the partner link's (replicate) are
// these constants. The link's own settings (keepalive, the BNDUPD window)
// are replicate's.
const (
	// DefaultMCLT is the MCLT of a relationship that leaves it 0: an hour,
	// the usual choice of ISC's DHCPv4 failover and Kea, long enough to
	// ride out a routine restart of the partner without clients noticing,
	// short enough that recovery does not hold resources for long.
	DefaultMCLT = time.Hour
	// DefaultPDSecondaryShare is the pd-secondary-share of a relationship
	// whose config leaves it out (half the free delegable prefixes go to
	// the secondary). 0 is a valid share, so RelationshipConfig's zero
	// value means 0, not this.
	DefaultPDSecondaryShare = 0.5
)

// SubnetConfig is one link's prefix and the pools the engine allocates from.
type SubnetConfig struct {
	Prefix       netip.Prefix
	Interface    string // directly attached link, matched for non-relayed traffic
	Relationship string // failover relationship serving it ("" = standalone)
	Pools        []Pool
	PDPools      []PDPool
	Reservations []Reservation
	Options      Options
}

// Pool is an inclusive address range that clients draw addresses from.
// Start and End share their upper 64 bits, so a pool is at most a whole
// /64 and is never materialised.
type Pool struct {
	Start, End netip.Addr
	// Classes, when set, restricts the pool to clients in at least one
	// of the named classes (Config.Classes); empty serves everyone.
	Classes []string
	// Options apply to clients given an address from this pool.
	Options Options
}

// PDPool delegates prefixes of DelegatedLen carved from Prefix.
type PDPool struct {
	Prefix       netip.Prefix
	DelegatedLen int
	Classes      []string // as Pool.Classes
	Options      Options  // apply to clients delegated a prefix from here
}

// Reservation binds an address and/or a prefix to one client, named by
// exactly one key: its DUID, or — so that a replaced CPE behind the same
// subscriber line keeps its prefix — the relay's REMOTE_ID (RFC 4649:
// enterprise number first), INTERFACE_ID (RFC 8415 §21.18) or
// SUBSCRIBER_ID (RFC 4580), matched exactly against the innermost relay
// layer that carries the option.
type Reservation struct {
	DUID         []byte
	RemoteID     []byte
	InterfaceID  []byte
	SubscriberID []byte
	Address      netip.Addr   // invalid = none
	Prefix       netip.Prefix // invalid = none
	Options      Options      // the most specific level: they beat every other
}

// Option is one DHCPv6 option the server may send: its code and its data,
// encoded once when the config is read (engine/config), so building a
// reply appends bytes and encodes nothing.
type Option struct {
	Code uint16
	Data []byte
}

// Options are the options configured at one level, at most one per code.
// Levels, most specific first: reservation, client classes (in
// Config.Classes order), the pools of the resources in the reply (address
// pools, then pd-pools), subnet, global. For each option code the client's
// ORO asks for, the most specific level that has it wins.
type Options []Option

// Get returns the option with code, if the set has one.
func (o Options) Get(code uint16) (Option, bool) {
	for _, x := range o {
		if x.Code == code {
			return x, true
		}
	}
	return Option{}, false
}

// MaxClasses bounds Config.Classes: a client's classes are a bit set.
const MaxClasses = 64

// Class is a client class: the clients that meet Match, and the options
// they get.
type Class struct {
	Name    string
	Match   Match
	Options Options
}

// Match is what a client must show to be in a class. Every set field must
// hold (AND); a Match with none set matches every client. Byte fields are
// prefixes of the option's data as it arrives. Relay options (RemoteID,
// InterfaceID, SubscriberID) are taken from the innermost relay layer that
// carries them; the client options from the client's message.
type Match struct {
	RemoteID     []byte // REMOTE_ID (37): enterprise number, then the id
	InterfaceID  []byte // INTERFACE_ID (18)
	SubscriberID []byte // SUBSCRIBER_ID (38)
	VendorClass  []byte // VENDOR_CLASS (16): enterprise number, then the data
	UserClass    []byte // USER_CLASS (15)
	DUID         []byte // the client's DUID
	// Link, when valid, must contain the innermost relay's link-address
	// (for a direct client: the prefix of the subnet it arrived on).
	Link netip.Prefix
}

// UnicastPolicy says how a REQUEST, RENEW, RELEASE or DECLINE that a
// client unicast to the server (not through a relay) is treated.
type UnicastPolicy uint8

const (
	// UnicastUseMulticast answers it with UseMulticast and nothing else,
	// as RFC 8415 §18.3 requires of a server that sent no Server
	// Unicast option. The default.
	UnicastUseMulticast UnicastPolicy = iota
	// UnicastAccept processes it like a multicast one (RFC 9915, which
	// obsoletes RFC 8415, lets servers do so): for clients such as
	// BusyBox udhcpc6 that unicast RENEW and RELEASE unasked and never
	// fall back to multicast.
	UnicastAccept
)

// Defaults fills unset fields. Like raft's Config.validate it is called by
// New; exported so tools can show the effective values.
func (c *Config) Defaults() {
	if c.Valid == 0 {
		c.Valid = time.Hour
	}
	if c.Preferred == 0 {
		c.Preferred = c.Valid / 2
	}
	if c.T1 == 0 {
		c.T1 = c.Preferred / 2
	}
	if c.T2 == 0 {
		c.T2 = c.Preferred * 4 / 5
	}
	if c.ReclaimAfter == 0 {
		c.ReclaimAfter = c.Valid
	}
	if c.DeclineHold == 0 {
		c.DeclineHold = 24 * time.Hour
	}
	for i := range c.Relationships {
		if c.Relationships[i].MCLT == 0 {
			c.Relationships[i].MCLT = DefaultMCLT
		}
	}
}

// hasOptions reports whether any level of c has an option.
func (c *Config) hasOptions() bool {
	if len(c.Options) > 0 {
		return true
	}
	for i := range c.Classes {
		if len(c.Classes[i].Options) > 0 {
			return true
		}
	}
	for i := range c.Subnets {
		s := &c.Subnets[i]
		if len(s.Options) > 0 {
			return true
		}
		for j := range s.Pools {
			if len(s.Pools[j].Options) > 0 {
				return true
			}
		}
		for j := range s.PDPools {
			if len(s.PDPools[j].Options) > 0 {
				return true
			}
		}
		for j := range s.Reservations {
			if len(s.Reservations[j].Options) > 0 {
				return true
			}
		}
	}
	return false
}

// classIndex returns the index of the class called name, or -1.
func (c *Config) classIndex(name string) int {
	for i := range c.Classes {
		if c.Classes[i].Name == name {
			return i
		}
	}
	return -1
}

// relIndex returns the index of the relationship called name, or -1.
func (c *Config) relIndex(name string) int {
	for i := range c.Relationships {
		if c.Relationships[i].Name == name {
			return i
		}
	}
	return -1
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if len(c.ServerDUID) == 0 || len(c.ServerDUID) > 130 {
		return errors.New("engine: server DUID must be 1-130 bytes")
	}
	if c.Preference < -1 || c.Preference > 255 {
		return fmt.Errorf("engine: preference %d outside 0-255", c.Preference)
	}
	if c.Preferred > c.Valid {
		return errors.New("engine: preferred lifetime exceeds valid lifetime")
	}
	if c.T1 > c.T2 {
		return errors.New("engine: t1 exceeds t2")
	}
	if len(c.Classes) > MaxClasses {
		return fmt.Errorf("engine: %d classes: at most %d", len(c.Classes), MaxClasses)
	}
	for i := range c.Classes {
		switch n := c.Classes[i].Name; {
		case n == "":
			return fmt.Errorf("engine: class %d: no name", i)
		case c.classIndex(n) != i:
			return fmt.Errorf("engine: class %q: defined twice", n)
		}
	}
	checkClasses := func(where string, names []string) error {
		for _, n := range names {
			if c.classIndex(n) < 0 {
				return fmt.Errorf("engine: %s: unknown class %q", where, n)
			}
		}
		return nil
	}
	for i := range c.Relationships {
		r := &c.Relationships[i]
		switch {
		case r.Name == "":
			return fmt.Errorf("engine: relationship %d: no name", i)
		case c.relIndex(r.Name) != i:
			return fmt.Errorf("engine: relationship %q: defined twice", r.Name)
		case r.MCLT < time.Second:
			return fmt.Errorf("engine: relationship %q: mclt %v under 1s", r.Name, r.MCLT)
		case r.AutoPartnerDown < 0:
			return fmt.Errorf("engine: relationship %q: negative auto-partner-down", r.Name)
		case !(r.PDSecondaryShare >= 0 && r.PDSecondaryShare <= 1):
			return fmt.Errorf("engine: relationship %q: pd-secondary-share %v outside 0-1", r.Name, r.PDSecondaryShare)
		}
	}
	for i := range c.Subnets {
		s := &c.Subnets[i]
		if s.Relationship != "" && c.relIndex(s.Relationship) < 0 {
			return fmt.Errorf("engine: subnet %d: unknown relationship %q", i, s.Relationship)
		}
		if !s.Prefix.IsValid() || !s.Prefix.Addr().Is6() || s.Prefix.Addr().Is4In6() {
			return fmt.Errorf("engine: subnet %d: invalid IPv6 prefix", i)
		}
		for _, r := range s.Pools {
			if err := checkClasses(fmt.Sprintf("subnet %s: pool %s-%s", s.Prefix, r.Start, r.End), r.Classes); err != nil {
				return err
			}
			if !s.Prefix.Contains(r.Start) || !s.Prefix.Contains(r.End) {
				return fmt.Errorf("engine: subnet %s: pool %s-%s outside the subnet", s.Prefix, r.Start, r.End)
			}
			if r.End.Less(r.Start) {
				return fmt.Errorf("engine: subnet %s: pool %s-%s ends before it starts", s.Prefix, r.Start, r.End)
			}
			if hi64(r.Start) != hi64(r.End) {
				return fmt.Errorf("engine: subnet %s: pool %s-%s spans more than one /64", s.Prefix, r.Start, r.End)
			}
		}
		for _, r := range s.Reservations {
			keys := 0
			for _, k := range [][]byte{r.DUID, r.RemoteID, r.InterfaceID, r.SubscriberID} {
				if k != nil {
					keys++
				}
			}
			if keys != 1 {
				return fmt.Errorf("engine: subnet %s: a reservation needs exactly one of DUID, remote-id, interface-id and subscriber-id, has %d", s.Prefix, keys)
			}
			// A reserved address off the link could be leased but never
			// renewed: renewals find bindings by the link's subnet.
			if r.Address.IsValid() && !s.Prefix.Contains(r.Address) {
				return fmt.Errorf("engine: subnet %s: reserved address %s outside the subnet", s.Prefix, r.Address)
			}
			if r.Prefix.IsValid() && r.Prefix.Masked() != r.Prefix {
				return fmt.Errorf("engine: subnet %s: reserved prefix %s has host bits set", s.Prefix, r.Prefix)
			}
		}
		for _, p := range s.PDPools {
			if err := checkClasses(fmt.Sprintf("subnet %s: pd-pool %s", s.Prefix, p.Prefix), p.Classes); err != nil {
				return err
			}
			if !p.Prefix.IsValid() || p.DelegatedLen < p.Prefix.Bits() || p.DelegatedLen > 128 {
				return fmt.Errorf("engine: subnet %s: pd-pool %s: delegated-length %d must be between %d and 128", s.Prefix, p.Prefix, p.DelegatedLen, p.Prefix.Bits())
			}
			if p.DelegatedLen-p.Prefix.Bits() > 63 {
				return fmt.Errorf("engine: subnet %s: pd-pool %s: more than 2^63 prefixes of /%d", s.Prefix, p.Prefix, p.DelegatedLen)
			}
		}
	}
	return nil
}

func hi64(a netip.Addr) uint64 {
	b := a.As16()
	return be64(b[:8])
}

func lo64(a netip.Addr) uint64 {
	b := a.As16()
	return be64(b[8:])
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func addrFrom64(hi, lo uint64) netip.Addr {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}
