// Package ddbunits estimates the DynamoDB request units of calls from the
// sizes of the items they write and read, following DynamoDB's documented
// rules: a standard write costs one WRU per started KB of the larger of the
// old and new item, plus the same for every global secondary index entry it
// puts or deletes; a read costs one RRU per started 4 KB (half for an
// eventually consistent read, and GSI queries always are); a transactional
// write costs double. It is an awscalls.Inspector for the benchmark.
//
// Old items are known because the Inspector remembers the last item it saw
// written under each key: that is exact when every writer of a table is
// counted by the same Inspector (the benchmark's farm process), and an
// underestimate of index deletes otherwise. An UpdateItem is accounted as
// the item it leaves: the one it returned (ALL_NEW), or its update
// expression applied to the old item (update.go); a DeleteItem as the old
// item and its index entries.
package ddbunits

import (
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/buildfarm/buildfarm/shared/testkit/awscalls"
)

// Table describes a table's key and its global secondary indexes.
type Table struct {
	Name string
	// Key names the primary key attributes.
	Key []string
	// Indexes: index name -> its key attributes.
	Indexes map[string][]string
	// KeysOnly names the indexes that project only keys: their entries are
	// the keys alone, and a write that leaves an entry's keys as they were
	// does not touch it. The other indexes project every attribute.
	KeysOnly map[string]bool
	// Include names, for indexes that project keys and some attributes
	// (KeysOnly too), those attributes: a write that leaves the keys and
	// these as they were does not touch the entry.
	Include map[string][]string
}

// Sizes of DynamoDB's accounting.
const (
	WriteUnitBytes = 1024
	ReadUnitBytes  = 4096
	// indexEntryOverhead is what DynamoDB adds to an index entry: 100 bytes.
	indexEntryOverhead = 100
)

// Estimator is an awscalls.Inspector over known tables.
type Estimator struct {
	tables map[string]Table
	// Short names resources: table name -> short name (default: the table name).
	Short func(string) string

	mu   sync.Mutex
	last map[string]map[string]types.AttributeValue // table\x00key -> last item written
}

// New returns an Estimator for tables.
func New(tables ...Table) *Estimator {
	e := &Estimator{tables: map[string]Table{}, last: map[string]map[string]types.AttributeValue{}}
	for _, t := range tables {
		e.tables[t.Name] = t
	}
	return e
}

// Inspect implements awscalls.Inspector.
func (e *Estimator) Inspect(service, operation string, in, out any, err error) awscalls.Usage {
	var u awscalls.Usage
	switch p := in.(type) {
	case *dynamodb.PutItemInput:
		u = e.put(aws.ToString(p.TableName), p.Item, err == nil)
	case *dynamodb.UpdateItemInput:
		var returned map[string]types.AttributeValue
		if o, ok := out.(*dynamodb.UpdateItemOutput); ok {
			returned = o.Attributes
		}
		u = e.update(aws.ToString(p.TableName), p.Key, aws.ToString(p.UpdateExpression), p.ExpressionAttributeNames, p.ExpressionAttributeValues, p.ReturnValues, returned, err == nil)
	case *dynamodb.DeleteItemInput:
		u = e.remove(aws.ToString(p.TableName), p.Key, err == nil)
	case *dynamodb.GetItemInput:
		u.Resource = aws.ToString(p.TableName)
		size := 0
		if o, ok := out.(*dynamodb.GetItemOutput); ok {
			size = ItemSize(o.Item)
		}
		u.ReadUnits = readUnits(size, aws.ToBool(p.ConsistentRead))
		u.ItemBytes, u.MaxItemBytes = int64(size), int64(size)
	case *dynamodb.QueryInput:
		u.Resource = aws.ToString(p.TableName)
		if p.IndexName != nil {
			u.Resource += "/" + *p.IndexName
		}
		if o, ok := out.(*dynamodb.QueryOutput); ok {
			u.ItemBytes, u.MaxItemBytes = sizes(o.Items)
		}
		u.ReadUnits = readUnits(int(u.ItemBytes), aws.ToBool(p.ConsistentRead))
	case *dynamodb.BatchGetItemInput:
		// Each item read is rounded up on its own.
		if o, ok := out.(*dynamodb.BatchGetItemOutput); ok {
			for table, items := range o.Responses {
				consistent := aws.ToBool(p.RequestItems[table].ConsistentRead)
				u.Resource = table
				for _, it := range items {
					size := ItemSize(it)
					u.ReadUnits += readUnits(size, consistent)
					u.ItemBytes += int64(size)
					u.MaxItemBytes = max(u.MaxItemBytes, int64(size))
				}
			}
		}
	case *dynamodb.ScanInput:
		u.Resource = aws.ToString(p.TableName)
		if o, ok := out.(*dynamodb.ScanOutput); ok {
			u.ItemBytes, u.MaxItemBytes = sizes(o.Items)
		}
		u.ReadUnits = readUnits(int(u.ItemBytes), aws.ToBool(p.ConsistentRead))
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range p.TransactItems {
			var w awscalls.Usage
			switch {
			case it.Put != nil:
				w = e.put(aws.ToString(it.Put.TableName), it.Put.Item, err == nil)
			case it.Update != nil:
				up := it.Update
				w = e.update(aws.ToString(up.TableName), up.Key, aws.ToString(up.UpdateExpression), up.ExpressionAttributeNames, up.ExpressionAttributeValues, "", nil, err == nil)
			case it.Delete != nil:
				w = e.remove(aws.ToString(it.Delete.TableName), it.Delete.Key, err == nil)
			default: // a condition check costs a write unit
				w = awscalls.Usage{WriteUnits: 1}
			}
			// A transactional write costs double.
			w.WriteUnits *= 2
			if w.Resource != "" {
				u.Resource = w.Resource
			}
			u.WriteUnits += w.WriteUnits
			u.ItemBytes += w.ItemBytes
			u.MaxItemBytes = max(u.MaxItemBytes, w.MaxItemBytes)
		}
		if len(p.TransactItems) > 1 {
			u.Resource = "transaction"
		}
	case *dynamodbstreams.GetRecordsInput:
		if o, ok := out.(*dynamodbstreams.GetRecordsOutput); ok {
			u.Records = int64(len(o.Records))
			if len(o.Records) > 0 {
				u.NonEmpty = 1
			}
		}
	}
	if u.Resource != "" && e.Short != nil {
		u.Resource = e.Short(u.Resource)
	}
	return u
}

// put accounts a PutItem of item.
func (e *Estimator) put(table string, item map[string]types.AttributeValue, ok bool) awscalls.Usage {
	t, known := e.tables[table]
	if !known {
		size := ItemSize(item)
		return awscalls.Usage{Resource: table, ItemBytes: int64(size), MaxItemBytes: int64(size), WriteUnits: units(size, WriteUnitBytes)}
	}
	return e.write(t, keyString(item, t.Key), func(map[string]types.AttributeValue) map[string]types.AttributeValue { return item }, ok)
}

// update accounts an UpdateItem: the item it leaves is the one returned
// (ALL_NEW) or the expression applied to the last item seen under the key
// (or, ALL_OLD, to the one returned).
func (e *Estimator) update(table string, key map[string]types.AttributeValue, expr string, names map[string]string, values map[string]types.AttributeValue,
	rv types.ReturnValue, returned map[string]types.AttributeValue, ok bool) awscalls.Usage {
	t, known := e.tables[table]
	if !known {
		t = Table{Name: table, Key: slices.Sorted(maps.Keys(key))}
	}
	return e.write(t, keyString(key, t.Key), func(old map[string]types.AttributeValue) map[string]types.AttributeValue {
		switch {
		case rv == types.ReturnValueAllNew && returned != nil:
			return returned
		case rv == types.ReturnValueAllOld && returned != nil:
			old = returned
		}
		return applyUpdate(old, key, expr, names, values)
	}, ok)
}

// remove accounts a DeleteItem.
func (e *Estimator) remove(table string, key map[string]types.AttributeValue, ok bool) awscalls.Usage {
	t, known := e.tables[table]
	if !known {
		t = Table{Name: table, Key: slices.Sorted(maps.Keys(key))}
	}
	return e.write(t, keyString(key, t.Key), func(map[string]types.AttributeValue) map[string]types.AttributeValue { return nil }, ok)
}

// write accounts one item write to t under key k: the base item (the
// larger of old and new) and each index entry put or deleted. next makes
// the new item from the old one (nil: deleted). A refused write (condition
// failed) still costs the base units and changes nothing.
func (e *Estimator) write(t Table, k string, next func(old map[string]types.AttributeValue) map[string]types.AttributeValue, ok bool) awscalls.Usage {
	e.mu.Lock()
	lk := t.Name + "\x00" + k
	old := e.last[lk]
	item := next(old)
	if ok {
		if item == nil {
			delete(e.last, lk)
		} else {
			e.last[lk] = item
		}
	}
	e.mu.Unlock()
	size := ItemSize(item)
	u := awscalls.Usage{Resource: t.Name, ItemBytes: int64(size), MaxItemBytes: int64(size)}
	u.WriteUnits = units(max(size, ItemSize(old)), WriteUnitBytes)
	if !ok {
		return u
	}
	for name, keys := range t.Indexes {
		newHas, oldHas := hasAll(item, keys), hasAll(old, keys)
		entry := func(it map[string]types.AttributeValue) int { return ItemSize(it) }
		projected := append(append([]string(nil), keys...), t.Include[name]...)
		if t.KeysOnly[name] {
			all := append(append([]string(nil), projected...), t.Key...)
			entry = func(it map[string]types.AttributeValue) int { return ItemSize(pick(it, all)) }
		}
		switch {
		case newHas && oldHas && keyString(item, projected) == keyString(old, projected):
			if !t.KeysOnly[name] {
				u.WriteUnits += units(max(size, ItemSize(old))+indexEntryOverhead, WriteUnitBytes)
			}
		default:
			if oldHas {
				u.WriteUnits += units(entry(old)+indexEntryOverhead, WriteUnitBytes)
			}
			if newHas {
				u.WriteUnits += units(entry(item)+indexEntryOverhead, WriteUnitBytes)
			}
		}
	}
	return u
}

// pick returns the named attributes of an item.
func pick(item map[string]types.AttributeValue, names []string) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(names))
	for _, n := range names {
		if v, ok := item[n]; ok {
			out[n] = v
		}
	}
	return out
}

func hasAll(item map[string]types.AttributeValue, keys []string) bool {
	if item == nil {
		return false
	}
	for _, k := range keys {
		if _, ok := item[k]; !ok {
			return false
		}
	}
	return true
}

func keyString(item map[string]types.AttributeValue, keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		switch v := item[k].(type) {
		case *types.AttributeValueMemberS:
			b.WriteString(v.Value)
		case *types.AttributeValueMemberN:
			b.WriteString(v.Value)
		case *types.AttributeValueMemberB:
			b.Write(v.Value)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// units is size in started blocks of block bytes, at least one.
func units(size, block int) float64 {
	return math.Max(1, math.Ceil(float64(size)/float64(block)))
}

func readUnits(size int, consistent bool) float64 {
	u := units(size, ReadUnitBytes)
	if !consistent {
		u /= 2
	}
	return u
}

func sizes(items []map[string]types.AttributeValue) (total, largest int64) {
	for _, it := range items {
		s := int64(ItemSize(it))
		total += s
		largest = max(largest, s)
	}
	return total, largest
}

// ItemSize is an item's size by DynamoDB's rules: each attribute's name
// (UTF-8 bytes) plus its value.
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + ValueSize(v)
	}
	return n
}

// ValueSize is one attribute value's size: strings and binaries by their
// bytes, numbers about one byte per two significant digits plus one,
// booleans and nulls one byte, lists and maps 3 bytes plus one per element
// plus the elements.
func ValueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + ValueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + ValueSize(e)
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	digits := 0
	for _, c := range strings.TrimLeft(strings.TrimLeft(s, "-+"), "0.") {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}
