package main

// The value cache (policy.ValueCache) in Envoy's shared data, so every
// worker of an Envoy sees the same entries. Envoy never frees a shared-data
// key, so entries live in a fixed set of slots: a key hashes to one slot,
// which holds that one key's entry; storing another key there evicts it
// (counted). A lookup compares the whole key, so a key a client makes up
// can evict another key's entry but never read it. Writes use
// compare-and-swap; one that loses a race is dropped (the cache is best
// effort, as APIM's). Values are never logged.

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// cacheSlots bounds the shared data the value cache can take: at most
// cacheSlots entries of a key (1 KiB) and a value (32 KiB) each.
const cacheSlots = 512

// sharedCache implements policy.ValueCache.
type sharedCache struct {
	counters counters
}

func cacheSlot(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return "apimguard.cache." + strconv.Itoa(int(h.Sum32()%cacheSlots))
}

// An entry is: expiry (unix nanoseconds, 8 bytes), key length (uvarint),
// key, value.
func encodeEntry(key string, value []byte, expires time.Time) []byte {
	b := make([]byte, 8, 8+binary.MaxVarintLen32+len(key)+len(value))
	binary.BigEndian.PutUint64(b, uint64(expires.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// decodeEntry reads an entry; ok is false for an empty or broken slot.
func decodeEntry(data []byte) (key string, value []byte, expires time.Time, ok bool) {
	if len(data) < 9 {
		return "", nil, time.Time{}, false
	}
	expires = time.Unix(0, int64(binary.BigEndian.Uint64(data)))
	n, w := binary.Uvarint(data[8:])
	if w <= 0 || n > uint64(len(data)-8-w) {
		return "", nil, time.Time{}, false
	}
	start := 8 + w
	return string(data[start : start+int(n)]), data[start+int(n):], expires, true
}

// Lookup implements policy.ValueCache.
func (c *sharedCache) Lookup(key string) ([]byte, bool) {
	data, _, err := proxywasm.GetSharedData(cacheSlot(key))
	if err != nil {
		return nil, false
	}
	k, v, expires, ok := decodeEntry(data)
	if !ok || k != key || !clock().Before(expires) {
		c.counters.count(outcomeMetric("miss", "cache_lookups"))
		return nil, false
	}
	c.counters.count(outcomeMetric("hit", "cache_lookups"))
	return v, true
}

// Store implements policy.ValueCache.
func (c *sharedCache) Store(key string, value []byte, ttl time.Duration) {
	slot := cacheSlot(key)
	data, cas, _ := proxywasm.GetSharedData(slot)
	now := clock()
	if k, _, expires, ok := decodeEntry(data); ok && k != key && now.Before(expires) {
		c.counters.count("apimguard.cache_evictions")
	}
	if err := proxywasm.SetSharedData(slot, encodeEntry(key, value, now.Add(ttl)), cas); err != nil {
		c.counters.count(outcomeMetric("dropped", "cache_stores"))
		return
	}
	c.counters.count(outcomeMetric("stored", "cache_stores"))
}

// Remove implements policy.ValueCache.
func (c *sharedCache) Remove(key string) {
	slot := cacheSlot(key)
	data, cas, err := proxywasm.GetSharedData(slot)
	if err != nil {
		return
	}
	if k, _, _, ok := decodeEntry(data); ok && k == key {
		_ = proxywasm.SetSharedData(slot, nil, cas)
	}
}

// sharedStore is policy.SharedStore over Envoy's shared data: the
// throttling counters (policy/throttle.go keeps them bounded).
type sharedStore struct{}

// Get implements policy.SharedStore.
func (sharedStore) Get(key string) ([]byte, uint32, bool) {
	data, cas, err := proxywasm.GetSharedData(key)
	return data, cas, err == nil
}

// Set implements policy.SharedStore.
func (sharedStore) Set(key string, value []byte, version uint32) bool {
	return proxywasm.SetSharedData(key, value, version) == nil
}
