package itemlock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func keysOf(names ...string) KeySchema {
	return func(context.Context, string) ([]string, error) { return names, nil }
}

func item(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}, "other": &types.AttributeValueMemberS{Value: "x"}}
}

// acquired reports whether lock returns within a short wait. A lock that
// is correctly held never returns, however loaded the machine.
func acquired(t *testing.T, lock func() func()) (func(), bool) {
	t.Helper()
	got := make(chan func(), 1)
	go func() { got <- lock() }()
	select {
	case release := <-got:
		return release, true
	case <-time.After(100 * time.Millisecond):
		return func() { (<-got)() }, false
	}
}

func mustItem(t *testing.T, l *Locks, table, id string) func() {
	t.Helper()
	release, err := l.Item(context.Background(), table, item(id))
	if err != nil {
		t.Fatal(err)
	}
	return release
}

func TestDifferentItemsAreWrittenAtOnce(t *testing.T) {
	t.Parallel()
	l := New(keysOf("id"))
	a := mustItem(t, l, "jobs", "a")
	defer a()
	// The process-wide write mutex this replaced held every other write
	// here, whatever its item.
	b, ok := acquired(t, func() func() { return mustItem(t, l, "jobs", "b") })
	defer b()
	if !ok {
		t.Fatal("a write to item b waited for a write to item a")
	}
	c, ok := acquired(t, func() func() { return mustItem(t, l, "builders", "a") })
	defer c()
	if !ok {
		t.Fatal("a write to another table's item waited")
	}
}

func TestOneItemIsWrittenOnceAtATime(t *testing.T) {
	t.Parallel()
	l := New(keysOf("id"))
	a := mustItem(t, l, "jobs", "a")
	second, ok := acquired(t, func() func() { return mustItem(t, l, "jobs", "a") })
	if ok {
		second()
		a()
		t.Fatal("two writes held item a at once")
	}
	a()
	second() // it gets the item once the first lets go
	if len(l.table("jobs").items) != 0 {
		t.Fatalf("released item locks are kept: %v", l.table("jobs").items)
	}
}

func TestTransactionsHoldTheirTables(t *testing.T) {
	t.Parallel()
	l := New(keysOf("id"))
	tx := l.Tables("jobs", "builders")
	w, ok := acquired(t, func() func() { return mustItem(t, l, "jobs", "a") })
	if ok {
		t.Fatal("an item write ran inside a transaction's table")
	}
	r, ok := acquired(t, func() func() { return l.read("builders") })
	if ok {
		t.Fatal("a read saw a table while a transaction held it")
	}
	other, ok := acquired(t, func() func() { return mustItem(t, l, "tokens", "a") })
	if !ok {
		t.Fatal("a write to a table outside the transaction waited")
	}
	other()
	tx()
	w()
	r()
}

func TestKeyUsesOnlyKeyAttributes(t *testing.T) {
	t.Parallel()
	l := New(keysOf("pool", "name"))
	it := map[string]types.AttributeValue{
		"pool": &types.AttributeValueMemberS{Value: "p"}, "name": &types.AttributeValueMemberS{Value: "n"},
		"state": &types.AttributeValueMemberS{Value: "free"},
	}
	k1, err := l.itemKey(context.Background(), l.table("r"), "r", it)
	if err != nil {
		t.Fatal(err)
	}
	it["state"] = &types.AttributeValueMemberS{Value: "used"}
	k2, _ := l.itemKey(context.Background(), l.table("r"), "r", it)
	if k1 != k2 {
		t.Fatalf("non-key attributes changed the lock key: %q vs %q", k1, k2)
	}
	it["name"] = &types.AttributeValueMemberS{Value: "m"}
	if k3, _ := l.itemKey(context.Background(), l.table("r"), "r", it); k3 == k1 {
		t.Fatal("two items share a lock key")
	}
}

func TestUnknownSchemaHoldsTheTable(t *testing.T) {
	t.Parallel()
	l := New(func(context.Context, string) ([]string, error) { return nil, errors.New("emulator down") })
	w := mustItem(t, l, "jobs", "a")
	other, ok := acquired(t, func() func() { return mustItem(t, l, "jobs", "b") })
	if ok {
		t.Fatal("without a key schema, two writes to one table ran at once")
	}
	w()
	other()
}
