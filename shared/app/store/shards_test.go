package store

import "testing"

func TestDispatchShardIsStable(t *testing.T) {
	t.Parallel()
	// Pinned (FNV-1a, computed apart from Go's hash/fnv): a change of the
	// function strands queued jobs on shards no claim reads after an upgrade.
	for _, c := range []struct {
		id       string
		n, shard int
	}{
		{"01KAPXW4Y0QKJ7ZTM2D5R8N3B1", 1, 0},
		{"01KAPXW4Y0QKJ7ZTM2D5R8N3B1", 4, 1},
		{"01KAPXW4Y0QKJ7ZTM2D5R8N3B2", 4, 0},
		{"01KAPXW4Y0QKJ7ZTM2D5R8N3B3", 16, 7},
		{"01KAPXW4Y0QKJ7ZTM2D5R8N3B4", 4, 2},
	} {
		if got := DispatchShard(c.id, c.n); got != c.shard {
			t.Errorf("DispatchShard(%s, %d) = %d, want %d", c.id, c.n, got, c.shard)
		}
	}
	seen := map[int]int{}
	for i := range 400 {
		seen[DispatchShard(string(rune('a'+i%26))+string(rune('a'+i/26)), 4)]++
	}
	for k := range 4 {
		if seen[k] < 60 {
			t.Errorf("shard %d got %d of 400 ids: %v", k, seen[k], seen)
		}
	}
}

func TestDispatchShardsWidths(t *testing.T) {
	t.Parallel()
	var zero DispatchShards
	if zero.Write("p") != 1 || zero.Read("p") != 1 || zero.Shard("p", "x") != 0 {
		t.Fatal("the zero value is not one shard per pool")
	}
	d, err := NewDispatchShards(map[string]int{"big": 4, "narrowing": 1}, map[string]int{"narrowing": 4, "big": 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pool        string
		write, read int
	}{{"big", 4, 4}, {"narrowing", 1, 4}, {"other", 1, 1}} {
		if d.Write(c.pool) != c.write || d.Read(c.pool) != c.read {
			t.Errorf("%s: write %d read %d, want %d %d", c.pool, d.Write(c.pool), d.Read(c.pool), c.write, c.read)
		}
	}
	for _, bad := range []map[string]int{{"p": 0}, {"p": -1}, {"p": MaxDispatchShards + 1}} {
		if _, err := NewDispatchShards(bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
		if _, err := NewDispatchShards(nil, bad); err == nil {
			t.Errorf("read %v accepted", bad)
		}
	}
}
