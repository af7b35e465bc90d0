// The layers of shared/ and the rules between them, checked on every
// non-test Go file of the module (imports parsed from the sources, so the
// check needs no build and covers every platform's files):
//
//	farm (the domain)  ←  app (services and their contracts)  ←  adapter
//	(one package per dependency, the HTTP edge among them)  ←  runtime
//	(Lambda handlers, the local runtime, the agent)  ←  wiring (the one
//	composition root)  ←  functions/, cmd/, infra/ (entry points)
//
// Imports point down (or sideways within a layer), never up; testkit/
// (test support) is imported by tests and test tools only.
package shared_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/buildfarm/buildfarm/"

// layers, lowest first: the layer of a package is that of the longest
// prefix of its path (relative to the module) listed here.
var layers = []struct {
	name     string
	prefixes []string
}{
	{"domain", []string{"shared/farm"}},
	{"app", []string{"shared/app"}},
	{"adapter", []string{"shared/adapter"}},
	{"runtime", []string{"shared/runtime"}},
	{"wiring", []string{"shared/wiring"}},
	{"entry", []string{"functions", "cmd", "infra"}},
}

// testTools are programs that exist to test or measure the farm: they may
// use testkit/.
var testTools = []string{"cmd/farm-bench", "cmd/farm-capacity", "cmd/farm-chaos", "cmd/farm-faultproxy"}

// httpEdge serves the API; it reaches the farm through services only.
var httpEdge = []string{"shared/adapter/httpapi", "shared/adapter/webui"}

// storageAdapters are what the HTTP edge must not reach: the stores,
// object storage, doorbells and the AWS plumbing under them.
var storageAdapters = []string{
	"shared/adapter/dynamostore", "shared/adapter/memstore", "shared/adapter/s3blobs", "shared/adapter/memblobs",
	"shared/adapter/sqsdoorbell", "shared/adapter/asgfleet", "shared/adapter/provision", "shared/adapter/topology",
	"shared/adapter/emulator", "shared/adapter/awsconf",
}

// dynamoAttributeLibraries turn Go values into DynamoDB attributes and
// build expressions over attribute names: only the DynamoDB store uses
// them (test support and the bench's raw floor aside).
var dynamoAttributeLibraries = []string{
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue",
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression",
}

func has(prefixes []string, pkg string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return pkg == p || strings.HasPrefix(pkg, p+"/") })
}

// layerOf is the index of pkg's layer, or -1 (testkit, or outside shared/, cmd/, functions/, infra/).
func layerOf(pkg string) int {
	best, bestLen := -1, 0
	for i, l := range layers {
		for _, p := range l.prefixes {
			if has([]string{p}, pkg) && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best
}

// sources are the module's non-test Go files by package directory, with
// the imports of each.
type source struct {
	file    string
	imports []string
	text    string
}

func moduleSources(t *testing.T) map[string][]source {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]source{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "cdk.out") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, text, parser.ImportsOnly)
		if err != nil {
			return err
		}
		s := source{file: filepath.ToSlash(rel), text: string(text)}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			s.imports = append(s.imports, p)
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		out[dir] = append(out[dir], s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out["shared/app/store"]) == 0 || len(out["shared/wiring"]) == 0 {
		t.Fatalf("the module's sources were not found under %s", root)
	}
	return out
}

func TestImportsPointDown(t *testing.T) {
	t.Parallel()
	for pkg, files := range moduleSources(t) {
		from := layerOf(pkg)
		for _, s := range files {
			for _, imp := range s.imports {
				local, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				switch to := layerOf(local); {
				case has([]string{"shared/testkit"}, local):
					if !has([]string{"shared/testkit"}, pkg) && !has(testTools, pkg) {
						t.Errorf("%s imports test support %s", s.file, local)
					}
				case from >= 0 && to > from:
					t.Errorf("%s (%s) imports %s (%s), a layer above it", s.file, layers[from].name, local, layers[to].name)
				case to < 0:
					t.Errorf("%s imports %s, which belongs to no layer", s.file, local)
				}
			}
		}
	}
}

// The domain and the services know no AWS, Lambda or HTTP; the HTTP edge
// reaches the farm through the services only.
func TestWhatEachLayerMayNotKnow(t *testing.T) {
	t.Parallel()
	aws := func(imp string) bool {
		return strings.HasPrefix(imp, "github.com/aws/") || strings.HasPrefix(imp, "github.com/awslabs/")
	}
	for pkg, files := range moduleSources(t) {
		inner := layerOf(pkg) == 0 || layerOf(pkg) == 1 // the domain or a service
		for _, s := range files {
			for _, imp := range s.imports {
				local, _ := strings.CutPrefix(imp, module)
				switch {
				case inner && (aws(imp) || imp == "net/http"):
					t.Errorf("%s (%s) imports %s", s.file, layers[layerOf(pkg)].name, imp)
				case has(httpEdge, pkg) && (has(storageAdapters, local) || strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2")):
					t.Errorf("%s (the HTTP edge) imports %s: handlers call services only", s.file, imp)
				case has([]string{"functions"}, pkg) && strings.HasPrefix(imp, module) && local != "shared/wiring" && local != "shared/adapter/httpapi":
					t.Errorf("%s imports %s: a Lambda's main builds itself with shared/wiring", s.file, local)
				}
			}
		}
	}
}

// DynamoDB attribute names live in exactly one package: the DynamoDB store.
func TestAttributeNamesStayInTheStore(t *testing.T) {
	t.Parallel()
	exempt := append([]string{"shared/adapter/dynamostore", "shared/testkit"}, testTools...)
	for pkg, files := range moduleSources(t) {
		if has(exempt, pkg) {
			continue
		}
		for _, s := range files {
			if strings.Contains(s.text, "dynamodbav:\"") {
				t.Errorf("%s declares DynamoDB attributes (dynamodbav tags): they belong to shared/adapter/dynamostore", s.file)
			}
			for _, imp := range s.imports {
				if slices.Contains(dynamoAttributeLibraries, imp) {
					t.Errorf("%s imports %s: attribute names and expressions belong to shared/adapter/dynamostore", s.file, imp)
				}
			}
		}
	}
}

// Small files with one purpose: no Go file, tests included, is over 800
// lines (scripts/test checks the same before any test runs).
func TestNoGoFileOver800Lines(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "cdk.out") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := strings.Count(string(text), "\n"); n > 800 {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s has %d lines: split it by purpose", rel, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// docs/architecture.md names the file of each step: each path it names
// exists (the page follows the code when files move).
func TestArchitecturePageNamesRealFiles(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile("`((?:shared|functions|infra|cmd|examples)/[A-Za-z0-9_./-]+)`").FindAllStringSubmatch(string(page), -1)
	if len(paths) < 30 {
		t.Fatalf("only %d paths found in docs/architecture.md", len(paths))
	}
	for _, m := range paths {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("docs/architecture.md names %s, which does not exist", m[1])
		}
	}
}
