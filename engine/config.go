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

	// Stateless options, sent when the client's ORO asks for them.
	DNSServers   []netip.Addr
	DomainSearch []string

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

// DefaultMCLT is the MCLT of a relationship that leaves it 0: long enough to
// ride out a routine restart of the partner, short enough that recovery does
// not hold resources for long.
const DefaultMCLT = time.Hour

// SubnetConfig is one link's prefix and the pools the engine allocates from.
type SubnetConfig struct {
	Prefix       netip.Prefix
	Interface    string // directly attached link, matched for non-relayed traffic
	Relationship string // failover relationship serving it ("" = standalone)
	Pools        []Range
	PDPools      []PDPool
	Reservations []Reservation
}

// Range is an inclusive address range. Start and End share their upper 64
// bits, so a range is at most a whole /64 and is never materialised.
type Range struct{ Start, End netip.Addr }

// PDPool delegates prefixes of DelegatedLen carved from Prefix.
type PDPool struct {
	Prefix       netip.Prefix
	DelegatedLen int
}

// Reservation binds an address and/or a prefix to one DUID.
type Reservation struct {
	DUID    []byte
	Address netip.Addr   // invalid = none
	Prefix  netip.Prefix // invalid = none
}

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
