package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// emulatorCeiling measures what the emulator itself takes, from as many
// goroutines as the plan says: conditional PutItems of new items (each
// with an entry on an ALL-projected index, as a queued job has), then
// Queries of 25 entries of that index. Calls per second of each.
func emulatorCeiling(ctx context.Context, cfg aws.Config, p loadPlan) (writes, queries float64, err error) {
	db := dynamodb.NewFromConfig(cfg)
	table := "ceiling-" + farm.NewSecret(3)
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("p"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("r"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName:  aws.String("queue"),
			KeySchema:  []ddbtypes.KeySchemaElement{{AttributeName: aws.String("p"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("r"), KeyType: ddbtypes.KeyTypeRange}},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
	})
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	}()
	payload := strings.Repeat("x", 300) // about a queued job's size
	var seq atomic.Int64
	writes, err = hammer(ctx, p.ceilingWorkers, p.ceilingFor, func(ctx context.Context) error {
		n := seq.Add(1)
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(table),
			Item:                map[string]ddbtypes.AttributeValue{"id": str(fmt.Sprintf("j%09d", n)), "p": str("default"), "r": str(fmt.Sprintf("%020d", n)), "payload": str(payload)},
			ConditionExpression: aws.String("attribute_not_exists(id)"),
		})
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	queries, err = hammer(ctx, p.ceilingWorkers, p.ceilingFor, func(ctx context.Context) error {
		_, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String("queue"), Limit: aws.Int32(25),
			KeyConditionExpression:    aws.String("p = :p"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": str("default")},
		})
		return err
	})
	return writes, queries, err
}

// hammer runs call from workers goroutines for d and returns the calls
// per second that succeeded (an error stops the measure).
func hammer(ctx context.Context, workers int, d time.Duration, call func(context.Context) error) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		done  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := call(ctx); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { first = err; cancel() })
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return round(float64(done.Load())/time.Since(start).Seconds(), 1), nil
}

// mergeSection sets one top-level section of the JSON report at path to v,
// keeping the others as they are and in their order (a load run does not
// redo the rest of the benchmark); a missing file becomes {section: v}.
func mergeSection(path, section string, v any) error {
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	e.SetIndent("  ", "  ")
	if err := e.Encode(v); err != nil {
		return err
	}
	val := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("{}")
	} else if err != nil {
		return err
	}
	var order []string
	raw := map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(old))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%s is not a JSON object", path)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		k := t.(string)
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if _, seen := raw[k]; !seen {
			order = append(order, k)
		}
		raw[k] = r
	}
	if _, seen := raw[section]; !seen {
		order = append(order, section)
	}
	raw[section] = json.RawMessage(val)
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range order {
		key, _ := json.Marshal(k)
		var ind bytes.Buffer
		if k == section {
			ind.Write(raw[k])
		} else if err := json.Indent(&ind, raw[k], "  ", "  "); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s: %s", key, ind.Bytes())
		if i < len(order)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// readSection is one top-level section of the JSON report at path (nil
// when there is no report or no such section).
func readSection(path, section string) json.RawMessage {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	return doc[section]
}

// printLoad prints the load section as a table.
func printLoad(w io.Writer, r *LoadResult) {
	fmt.Fprintf(w, "buildfarm load — %d simulated builders over HTTP (%d claims in flight at most), %d jobs a run, %s, %d CPUs, moto %s, load %s -> %s, %.0f s\n\n",
		r.Builders, r.ClaimsInFlight, r.Jobs, r.Date, r.Environment.CPUs, r.Environment.MotoVersion, r.Environment.LoadAvgStart, r.Environment.LoadAvgEnd, r.Environment.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pool width\tclaims/s\tclaimed\tclaims (204)\terrors\tclaim ms p50 | p99\tAWS calls/job\tdispatch queries/claim\temulator calls/s\tqueued per shard\tpriority fraction (judged, with choice)")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "S=%d\t%.2f\t%d\t%d (%d)\t%d\t%.1f | %.1f\t%.2f\t%.2f\t%.1f\t%v\t%.4f (%d, %d)\n", run.Shards, run.ClaimsPerSec, run.Claimed, run.ClaimRequests, run.ClaimsEmpty,
			run.Errors, run.ClaimMsP50, run.ClaimMsP99, run.AWSCallsPerClaim, run.DispatchQueriesPerClaim, run.EmulatorCallsPerSecond, run.QueuedPerShard,
			run.Priority.FractionHighestFirst, run.Priority.Claims, run.Priority.WithChoice)
	}
	tw.Flush()
	fmt.Fprintf(w, "emulator ceiling (raw SDK calls, same run, %d goroutines): %.1f conditional writes/s, %.1f queries/s\n", r.CeilingWorkers, r.CeilingWritesPerSecond, r.CeilingQueriesPerSecond)
	for _, v := range r.Runs[1].Priority.Examples {
		fmt.Fprintln(w, "  priority violation:", v)
	}
}
