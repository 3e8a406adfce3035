package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"sync"
)

// The counters of the throttling elements (rate_limit.go, quota.go,
// limit_concurrency.go) in the host's SharedStore (the plugin: Envoy's
// shared data, so every worker of an Envoy counts against the same limit).
//
// # Bounded, and a client cannot reset another's counter
//
// Envoy never frees a shared-data key, so the counters live in a fixed
// table: throttleBuckets keys, each holding throttleSlots entries and one
// overflow entry. A counter key is hashed with SipHash-2-4 under keys taken
// from the configuration (a client that does not know them cannot aim keys
// at one bucket or make two keys collide); its entry is identified by 128
// bits, two such hashes. A new key
// takes a free or expired slot of its bucket. A live entry is never evicted:
// when every slot of the bucket is live, the new key counts on the bucket's
// overflow entry, shared with every other key that overflowed there. A key
// is therefore never counted less than its own calls (a limit always holds)
// and at worst together with others (an early 429), never reset. Overflows
// are counted (Gateway.TakeThrottleOverflows, the plugin's metric).
//
// Updates are compare-and-swap on the whole bucket, retried a bounded
// number of times; a bucket that stays contended fails closed
// (ErrCounterBusy, a 500 through on-error).

// SharedStore is memory the host's workers share, with compare-and-swap:
// Envoy's shared data.
type SharedStore interface {
	// Get returns a copy of key's value, which the caller may change, and
	// its version; ok is false when the key was never set.
	Get(key string) (value []byte, version uint32, ok bool)
	// Set replaces key's value if its version is still version, and
	// reports whether it did; version 0 sets it whatever it holds.
	Set(key string, value []byte, version uint32) bool
}

const (
	throttleBuckets = 1024
	throttleSlots   = 8
	entrySize       = 16 + 3*8
	bucketSize      = (throttleSlots + 1) * entrySize
	maxCASTries     = 32
)

// counterEntry is one counter: id (16 bytes of the key's digest, all zero
// for the overflow entry), the time it may be dropped (unix milliseconds)
// and two numbers whose meaning is the element's.
type counterEntry struct {
	id       [16]byte
	expires  int64
	val, aux int64
}

// counterTable is the table over a SharedStore.
type counterTable struct {
	store SharedStore
	// k are the hash keys; names the buckets' shared-data keys, made at
	// the first use (a plugin without throttling never keeps them).
	k     [4]uint64
	names []string
	// overflows counts the keys that found their bucket full, serviceDown
	// the asks to the rate limit service that got no answer.
	overflows, serviceDown int
}

// newCounterTable is the table over store, its hash keys from salt.
func newCounterTable(store SharedStore, salt []byte) *counterTable {
	t := &counterTable{store: store}
	sum := sha256.Sum256(salt)
	for i := range t.k {
		t.k[i] = binary.LittleEndian.Uint64(sum[8*i:])
	}
	return t
}

// bucketNames returns the buckets' shared-data keys.
func (t *counterTable) bucketNames() []string {
	if t.names == nil {
		t.names = make([]string, throttleBuckets)
		for i := range t.names {
			t.names[i] = "apimguard.throttle." + strconv.Itoa(i)
		}
	}
	return t.names
}

// slot is where key's counter lives: its id and its bucket's name.
func (t *counterTable) slot(key string) ([16]byte, string) {
	var id [16]byte
	hi := sipHash(t.k[0], t.k[1], []byte(key))
	binary.BigEndian.PutUint64(id[:], hi)
	binary.BigEndian.PutUint64(id[8:], sipHash(t.k[2], t.k[3], []byte(key)))
	return id, t.bucketNames()[hi%throttleBuckets]
}

// Prepare creates every bucket that does not exist yet, so that updates
// are compare-and-swap from the first: a host calls it at start, before
// requests. (Two workers creating one bucket at once both write it empty.)
func (t *counterTable) Prepare() {
	for _, name := range t.bucketNames() {
		if _, _, ok := t.store.Get(name); !ok {
			t.store.Set(name, make([]byte, bucketSize), 0)
		}
	}
}

// ErrCounterBusy: the bucket of a counter changed under every one of
// maxCASTries updates, or the store refused it.
var ErrCounterBusy = &Failure{Source: "throttle", Reason: "CounterUnavailable", Message: "The throttling counter could not be updated.", Status: 500, Body: InternalErrorBody}

// update runs f on key's entry and stores the result when f returns true.
// A fresh entry (none yet, or the previous one expired) has val and aux 0
// and fresh set. now is unix milliseconds.
func (t *counterTable) update(key string, now int64, f func(e *counterEntry, fresh bool) bool) error {
	id, name := t.slot(key)
	for try := 0; try < maxCASTries; try++ {
		data, version, ok := t.store.Get(name)
		if !ok || len(data) != bucketSize {
			// Never prepared (or written by something else): start it.
			data, version = make([]byte, bucketSize), 0
		}
		slot, fresh := findSlot(data, id, now)
		if slot < 0 {
			slot, fresh = throttleSlots, false
			t.overflows++
		}
		e := decodeEntry(data[slot*entrySize:])
		if slot == throttleSlots && (e.expires <= now) {
			fresh = true
		}
		if fresh {
			e = counterEntry{id: id}
			if slot == throttleSlots {
				e.id = [16]byte{}
			}
		}
		if !f(&e, fresh) {
			return nil
		}
		encodeEntry(data[slot*entrySize:], &e)
		if t.store.Set(name, data, version) {
			return nil
		}
		if version == 0 {
			break
		}
	}
	return ErrCounterBusy
}

// findSlot returns the slot of id in a bucket (fresh false), else the first
// free or expired one (fresh true), else -1.
func findSlot(data []byte, id [16]byte, now int64) (int, bool) {
	free := -1
	for i := 0; i < throttleSlots; i++ {
		b := data[i*entrySize:]
		expires := int64(binary.BigEndian.Uint64(b[16:]))
		if [16]byte(b[:16]) == id {
			if expires <= now {
				return i, true
			}
			return i, false
		}
		if free < 0 && expires <= now {
			free = i
		}
	}
	return free, true
}

func decodeEntry(b []byte) counterEntry {
	return counterEntry{
		id:      [16]byte(b[:16]),
		expires: int64(binary.BigEndian.Uint64(b[16:])),
		val:     int64(binary.BigEndian.Uint64(b[24:])),
		aux:     int64(binary.BigEndian.Uint64(b[32:])),
	}
}

func encodeEntry(b []byte, e *counterEntry) {
	copy(b, e.id[:])
	binary.BigEndian.PutUint64(b[16:], uint64(e.expires))
	binary.BigEndian.PutUint64(b[24:], uint64(e.val))
	binary.BigEndian.PutUint64(b[32:], uint64(e.aux))
}

// MemoryStore is a SharedStore in this process's memory, for hosts with
// one worker (apimguard test) and tests.
type MemoryStore struct {
	mu   sync.Mutex
	data map[string][]byte
	vers map[string]uint32
	next uint32
}

// Get implements SharedStore.
func (m *MemoryStore) Get(key string) ([]byte, uint32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return append([]byte(nil), v...), m.vers[key], ok
}

// Set implements SharedStore.
func (m *MemoryStore) Set(key string, value []byte, version uint32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data, m.vers = map[string][]byte{}, map[string]uint32{}
	}
	if version != 0 && m.vers[key] != version {
		return false
	}
	m.next++
	m.data[key], m.vers[key] = append([]byte(nil), value...), m.next
	return true
}

// needCounters is the check of every throttling element: the host must
// have given counters.
func (c *compiler) needCounters(n *Node) error {
	if c.counters == nil {
		return c.errf(n, n.Pos, "this host has no shared counters for throttling")
	}
	c.usesCounters = true
	return nil
}

// deferToOutbound runs s at the end of outbound (a deferred increment).
func (x *Exec) deferToOutbound(s statement) {
	m := x.extra()
	m.deferred = append(m.deferred, s)
}

// addToResponse sets a header on the response the client gets: the
// upstream's (before outbound runs, so outbound policies may change it) or
// a throttling denial.
func (x *Exec) addToResponse(name, value string) {
	m := x.extra()
	for i := range m.respAdd {
		if m.respAdd[i][0] == name {
			m.respAdd[i][1] = value
			return
		}
	}
	m.respAdd = append(m.respAdd, [2]string{name, value})
	if x.phase == phaseOutbound {
		x.respEdits.set(name, []string{value})
	}
}

// routeIDs returns the id and the name of the request's API and operation
// (nil when it matched none).
func (x *Exec) routeIDs() (api, op *[2]string) {
	r := x.prog.route
	if r == nil || r.API == nil {
		return nil, nil
	}
	api = &[2]string{r.API.ID, r.API.Name}
	if r.Operation != nil {
		op = &[2]string{r.Operation.ID, r.Operation.Name}
	}
	return api, op
}

// keyedCount is what rate-limit-by-key and quota-by-key share: the
// counter key, and the increment (deferred to the end of outbound when
// either attribute is an expression).
type keyedCount struct {
	key, cond, count  Value
	hasCond, deferred bool
	maxCount          int64
}

func (c *compiler) keyedCount(n *Node, maxCount int64) (keyedCount, error) {
	k := keyedCount{maxCount: maxCount}
	var err error
	if k.key, err = c.requiredValue(n, "counter-key"); err != nil {
		return k, err
	}
	if k.count, err = c.throttleIntValue(n, "increment-count", false, 0, maxCount); err != nil {
		return k, err
	}
	if a, ok := n.Attr("increment-condition"); ok {
		if k.cond, err = c.condition(n, a); err != nil {
			return k, err
		}
		k.hasCond = true
	}
	k.deferred = (k.hasCond && !k.cond.IsConst()) || !k.count.IsConst()
	return k, nil
}

// increment evaluates increment-condition and increment-count: how much
// to count, and whether to count at all.
func (k *keyedCount) increment(x *Exec) (int64, bool, error) {
	if k.hasCond {
		if ok, err := k.cond.EvalBool(x); err != nil || !ok {
			return 0, false, err
		}
	}
	n, err := evalThrottleInt(x, &k.count, "increment-count", 0, k.maxCount)
	return n, err == nil && n > 0, err
}
