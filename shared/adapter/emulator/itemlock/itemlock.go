// Package itemlock makes an emulator's DynamoDB writes atomic per item, the
// way DynamoDB's are. moto evaluates a write's condition and then applies it
// without a lock, so two concurrent conditional writes to one item can both
// pass; and it rolls a failed transaction back by restoring a copy of every
// table the transaction touched, undoing writes that raced with it.
//
// Locks is an SDK middleware that an emulator's configuration carries (see
// emulator.Config), never a production one: each single-item write holds a
// lock on its (table, key), so writes to different items still run at once;
// a transaction or batch write holds its tables exclusively; reads hold
// their table shared, so none sees a transaction that is rolled back.
package itemlock

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// KeySchema returns the names of a table's key attributes.
type KeySchema func(ctx context.Context, table string) ([]string, error)

// Locks holds the item and table locks of one process.
type Locks struct {
	schema KeySchema

	mu     sync.Mutex
	tables map[string]*tableLocks
}

type tableLocks struct {
	// whole is held shared by reads and single-item writes, and
	// exclusively by transactions and batch writes.
	whole sync.RWMutex
	keys  []string // key attribute names, once known

	mu    sync.Mutex
	items map[string]*itemLock
}

type itemLock struct {
	mu    sync.Mutex
	users int // holders and waiters; the entry is dropped at zero
}

// New returns Locks that learn key schemas from schema.
func New(schema KeySchema) *Locks {
	return &Locks{schema: schema, tables: map[string]*tableLocks{}}
}

// DescribeKeys is a KeySchema that asks DynamoDB (once per table: Locks
// remembers the answer).
func DescribeKeys(db *dynamodb.Client) KeySchema {
	return func(ctx context.Context, table string) ([]string, error) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, k := range out.Table.KeySchema {
			keys = append(keys, aws.ToString(k.AttributeName))
		}
		return keys, nil
	}
}

// Attach adds the locks to every DynamoDB client made from cfg.
func (l *Locks) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("itemlock.Lock", l.handle), middleware.Before)
	})
}

func (l *Locks) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	unlock, err := l.lock(ctx, in.Parameters)
	if err != nil {
		return middleware.InitializeOutput{}, middleware.Metadata{}, err
	}
	defer unlock()
	return next.HandleInitialize(ctx, in)
}

// lock takes the locks a call needs and returns their release.
func (l *Locks) lock(ctx context.Context, params any) (func(), error) {
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		return l.Item(ctx, aws.ToString(in.TableName), in.Item)
	case *dynamodb.UpdateItemInput:
		return l.Item(ctx, aws.ToString(in.TableName), in.Key)
	case *dynamodb.DeleteItemInput:
		return l.Item(ctx, aws.ToString(in.TableName), in.Key)
	case *dynamodb.TransactWriteItemsInput:
		return l.Tables(transactTables(in)...), nil
	case *dynamodb.BatchWriteItemInput:
		tables := make([]string, 0, len(in.RequestItems))
		for t := range in.RequestItems {
			tables = append(tables, t)
		}
		return l.Tables(tables...), nil
	case *dynamodb.GetItemInput:
		return l.read(aws.ToString(in.TableName)), nil
	case *dynamodb.QueryInput:
		return l.read(aws.ToString(in.TableName)), nil
	case *dynamodb.ScanInput:
		return l.read(aws.ToString(in.TableName)), nil
	}
	return func() {}, nil
}

func transactTables(in *dynamodb.TransactWriteItemsInput) []string {
	var tables []string
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			tables = append(tables, aws.ToString(it.Put.TableName))
		case it.Update != nil:
			tables = append(tables, aws.ToString(it.Update.TableName))
		case it.Delete != nil:
			tables = append(tables, aws.ToString(it.Delete.TableName))
		case it.ConditionCheck != nil:
			tables = append(tables, aws.ToString(it.ConditionCheck.TableName))
		}
	}
	return tables
}

func (l *Locks) table(name string) *tableLocks {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tables[name]
	if t == nil {
		t = &tableLocks{items: map[string]*itemLock{}}
		l.tables[name] = t
	}
	return t
}

func (l *Locks) read(table string) func() {
	t := l.table(table)
	t.whole.RLock()
	return t.whole.RUnlock
}

// Item locks the item of table that item (or its key) names, and returns
// the release. Writes to other items of the table are not held up.
// When the table's key schema cannot be learnt (the emulator is down, or a
// fault injected), the write holds the whole table instead: coarser, never
// wrong, and the schema is asked again next time.
func (l *Locks) Item(ctx context.Context, table string, item map[string]types.AttributeValue) (func(), error) {
	t := l.table(table)
	key, err := l.itemKey(ctx, t, table, item)
	if err != nil {
		return l.Tables(table), nil
	}
	t.whole.RLock()
	t.mu.Lock()
	il := t.items[key]
	if il == nil {
		il = &itemLock{}
		t.items[key] = il
	}
	il.users++
	t.mu.Unlock()
	il.mu.Lock()
	return func() {
		il.mu.Unlock()
		t.mu.Lock()
		if il.users--; il.users == 0 {
			delete(t.items, key)
		}
		t.mu.Unlock()
		t.whole.RUnlock()
	}, nil
}

// Tables locks whole tables, in name order (so two callers never deadlock),
// and returns the release.
func (l *Locks) Tables(names ...string) func() {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	held := make([]*tableLocks, 0, len(names))
	for _, n := range names {
		t := l.table(n)
		t.whole.Lock()
		held = append(held, t)
	}
	return func() {
		for _, t := range held {
			t.whole.Unlock()
		}
	}
}

// itemKey is the text form of the item's key attribute values.
func (l *Locks) itemKey(ctx context.Context, t *tableLocks, table string, item map[string]types.AttributeValue) (string, error) {
	t.mu.Lock()
	keys := t.keys
	t.mu.Unlock()
	if keys == nil {
		var err error
		if keys, err = l.schema(ctx, table); err != nil {
			return "", fmt.Errorf("itemlock: key schema of %s: %w", table, err)
		}
		t.mu.Lock()
		t.keys = keys
		t.mu.Unlock()
	}
	var b strings.Builder
	for _, k := range keys {
		switch v := item[k].(type) {
		case *types.AttributeValueMemberS:
			fmt.Fprintf(&b, "S%d:%s|", len(v.Value), v.Value)
		case *types.AttributeValueMemberN:
			fmt.Fprintf(&b, "N%d:%s|", len(v.Value), v.Value)
		case *types.AttributeValueMemberB:
			fmt.Fprintf(&b, "B%d:%x|", len(v.Value), v.Value)
		default:
			// No usable key: the emulator refuses the call; lock nothing
			// finer than the table's shared lock.
			fmt.Fprintf(&b, "?%s|", k)
		}
	}
	return b.String(), nil
}
