package farm

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Built-in job type names.
const (
	TypeBinaryBuild    = "binary-build"
	TypeLiveImageBuild = "live-image-build"
	TypeRecipeBuild    = "recipe-build"
	TypeCleanResource  = "clean-resource"
	TypeScript         = "script"
)

// DefaultPool runs script jobs that name no pool, and the farm's internal jobs.
const DefaultPool = "default"

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	archPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,15}$`)
)

// ValidPoolName reports whether s can name a builder pool (and its queue).
func ValidPoolName(s string) bool { return namePattern.MatchString(s) }

// CheckName validates a pool, builder or resource name in field.
func CheckName(field, s string) error {
	if !namePattern.MatchString(s) {
		return FieldError(field, "must be 1-40 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
	}
	return nil
}

// Launchpad-style score components. A higher score runs first.
var (
	pocketScores    = map[string]int64{"backports": 0, "release": 1500, "proposed": 3000, "updates": 3000, "security": 4500}
	componentScores = map[string]int64{"multiverse": 0, "universe": 250, "restricted": 750, "main": 1000, "partner": 1250}
	urgencyScores   = map[string]int64{"low": 5, "medium": 10, "high": 15, "emergency": 20, "critical": 20}
)

// PrivateArchiveBonus lifts builds for private archives above public ones, as Launchpad does.
const PrivateArchiveBonus = 10000

// Source points at an uploaded object a job works on (set by S3 ingest, or
// by a submitter naming an upload under incoming/). SourceVersion pins the
// object version the builder downloads.
type Source struct {
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
}

// check validates the form of a source; which objects a submitter may name
// is the farm's SourcePolicy, checked at submit.
func (s *Source) check() error {
	if s.Source == "" {
		if s.SourceVersion != "" {
			return FieldError("source_version", "is only for a source")
		}
		return nil
	}
	if !strings.HasPrefix(s.Source, "s3://") {
		return FieldError("source", "must be an s3:// URL of an uploaded object")
	}
	if len(s.SourceVersion) > 1024 {
		return FieldError("source_version", "is longer than 1024 characters")
	}
	return nil
}

func oneOf(field, value, def string, allowed map[string]int64) (string, error) {
	if value == "" {
		return def, nil
	}
	if _, ok := allowed[value]; !ok {
		return "", FieldError(field, "unknown value %q (one of %s)", value, strings.Join(slices.Sorted(maps.Keys(allowed)), ", "))
	}
	return value, nil
}

func checkArch(field string, arch *string, def string) error {
	if *arch == "" {
		*arch = def
	}
	if !archPattern.MatchString(*arch) {
		return FieldError(field, "must be an architecture name such as amd64 or arm64")
	}
	return nil
}

// archPool maps an architecture to its builder pool: arch-independent builds
// run on amd64; builds that may not run virtualized go to the bare-metal pool.
func archPool(arch string, virtualized bool) string {
	if arch == "all" {
		arch = "amd64"
	}
	if !virtualized {
		return arch + "-metal"
	}
	return arch
}

// BinaryBuildArgs builds binary packages of one source package for one architecture.
type BinaryBuildArgs struct {
	Source
	Package   string `json:"package,omitempty"`
	Version   string `json:"version,omitempty"`
	Arch      string `json:"arch,omitempty"`
	Pocket    string `json:"pocket,omitempty"`
	Component string `json:"component,omitempty"`
	Urgency   string `json:"urgency,omitempty"`
	Archive   string `json:"archive,omitempty"`
	Private   bool   `json:"private,omitempty"`
	// Virtualized builds run on ordinary (EC2) builders; false needs bare metal.
	Virtualized *bool `json:"virtualized,omitempty"`
	// ArchiveScore is the archive's relative build score, added as Launchpad does.
	ArchiveScore int64 `json:"archive_score,omitempty"`
}

func (BinaryBuildArgs) Kind() string { return TypeBinaryBuild }

func validateBinaryBuild(a *BinaryBuildArgs) error {
	var err error
	if err = a.Source.check(); err != nil {
		return err
	}
	if a.Source.Source == "" && a.Package == "" {
		return FieldError("source", "is required (or name a package)")
	}
	if err = checkArch("arch", &a.Arch, "amd64"); err != nil {
		return err
	}
	if a.Pocket, err = oneOf("pocket", a.Pocket, "release", pocketScores); err != nil {
		return err
	}
	if a.Component, err = oneOf("component", a.Component, "main", componentScores); err != nil {
		return err
	}
	if a.Urgency, err = oneOf("urgency", a.Urgency, "medium", urgencyScores); err != nil {
		return err
	}
	if a.Archive == "" {
		a.Archive = "primary"
	}
	if a.Virtualized == nil {
		v := true
		a.Virtualized = &v
	}
	if a.ArchiveScore < -100000 || a.ArchiveScore > 100000 {
		return FieldError("archive_score", "must be between -100000 and 100000")
	}
	return nil
}

// privilegedBinaryBuild names the score inputs of a binary build that only
// an admin may set. Launchpad takes them from the archive, not the upload:
// whether it is private (PrivateArchiveBonus) and its relative build score.
// Pocket, component and urgency describe the build itself and stay the
// submitter's (together at most 5770 points).
func privilegedBinaryBuild(a BinaryBuildArgs) []string {
	var out []string
	if a.Private {
		out = append(out, "private")
	}
	if a.ArchiveScore != 0 {
		out = append(out, "archive_score")
	}
	return out
}

// ScoreBinaryBuild is Launchpad's additive build score.
func ScoreBinaryBuild(a BinaryBuildArgs) int64 {
	s := pocketScores[a.Pocket] + componentScores[a.Component] + urgencyScores[a.Urgency] + a.ArchiveScore
	if a.Private {
		s += PrivateArchiveBonus
	}
	return s
}

// LiveImageBuildArgs builds a live filesystem image (live-build).
type LiveImageBuildArgs struct {
	Source
	Project     string `json:"project"`
	Series      string `json:"series"`
	Arch        string `json:"arch,omitempty"`
	Subarch     string `json:"subarch,omitempty"`
	ImageFormat string `json:"image_format,omitempty"`
	Pocket      string `json:"pocket,omitempty"`
	Private     bool   `json:"private,omitempty"`
}

func (LiveImageBuildArgs) Kind() string { return TypeLiveImageBuild }

func validateLiveImage(a *LiveImageBuildArgs) error {
	var err error
	if err = a.Source.check(); err != nil {
		return err
	}
	if a.Project == "" && a.Source.Source == "" {
		return FieldError("project", "is required")
	}
	if a.Series == "" && a.Source.Source == "" {
		return FieldError("series", "is required")
	}
	if err = checkArch("arch", &a.Arch, "amd64"); err != nil {
		return err
	}
	a.Pocket, err = oneOf("pocket", a.Pocket, "release", pocketScores)
	return err
}

// LiveImageBaseScore is Launchpad's base score for live filesystem builds.
const LiveImageBaseScore = 2510

// RecipeBuildArgs builds a source package from a branch and a recipe, then
// fans out one binary-build per architecture when it succeeds.
type RecipeBuildArgs struct {
	Source
	Recipe   string   `json:"recipe,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Revision string   `json:"revision,omitempty"`
	Series   string   `json:"series,omitempty"`
	Archs    []string `json:"archs,omitempty"`
	Manual   bool     `json:"manual,omitempty"`
	Archive  string   `json:"archive,omitempty"`
}

func (RecipeBuildArgs) Kind() string { return TypeRecipeBuild }

func validateRecipe(a *RecipeBuildArgs) error {
	if err := a.Source.check(); err != nil {
		return err
	}
	if a.Branch == "" && a.Source.Source == "" {
		return FieldError("branch", "is required")
	}
	if len(a.Archs) > 16 {
		return FieldError("archs", "at most 16 architectures")
	}
	seen := map[string]bool{}
	for i := range a.Archs {
		if err := checkArch(fmt.Sprintf("archs[%d]", i), &a.Archs[i], ""); err != nil {
			return err
		}
		if seen[a.Archs[i]] {
			return FieldError(fmt.Sprintf("archs[%d]", i), "duplicate architecture %q", a.Archs[i])
		}
		seen[a.Archs[i]] = true
	}
	return nil
}

// recipeFollowOns fans out a binary-build per architecture of a succeeded recipe build.
func recipeFollowOns(a RecipeBuildArgs, job *Job) ([]FollowOn, error) {
	var out []FollowOn
	for _, arch := range a.Archs {
		p := BinaryBuildArgs{Arch: arch, Archive: a.Archive, Package: "recipe-" + job.ID}
		// The source package the recipe build's succeeding run produced (not
		// one an earlier, failed run left) is the binary builds' input,
		// pinned to the version uploaded.
		for _, art := range job.Artifacts {
			if art.Bucket != "" && art.Attempt == job.Run && (strings.HasSuffix(art.Name, ".dsc") || strings.HasSuffix(art.Name, ".tar.gz")) {
				p.Source.Source = "s3://" + art.Bucket + "/" + art.Key
				p.Source.SourceVersion = art.VersionID
				break
			}
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		out = append(out, FollowOn{Type: TypeBinaryBuild, Payload: raw, Priority: job.Priority})
	}
	return out, nil
}

// CleanResourceArgs cleans a dirty resource of a resource pool (internal).
type CleanResourceArgs struct {
	ResourcePool string `json:"resource_pool"`
	Resource     string `json:"resource"`
	CleanScript  string `json:"clean_script,omitempty"`
	BuilderPool  string `json:"builder_pool,omitempty"`
}

func (CleanResourceArgs) Kind() string { return TypeCleanResource }

func validateClean(a *CleanResourceArgs) error {
	if err := CheckName("resource_pool", a.ResourcePool); err != nil {
		return err
	}
	if a.Resource == "" {
		return FieldError("resource", "is required")
	}
	if a.BuilderPool == "" {
		a.BuilderPool = DefaultPool
	}
	return CheckName("builder_pool", a.BuilderPool)
}

// CleanResourceScore puts cleaning ahead of ordinary work so resources come back quickly.
const CleanResourceScore = 5000

// ScriptArgs runs a shell script with sh -c in a fresh work dir.
type ScriptArgs struct {
	Source
	Script string            `json:"script,omitempty"`
	Pool   string            `json:"pool,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	// Then lists follow-on jobs to create when this one succeeds.
	Then []ThenJob `json:"then,omitempty"`
}

// ThenJob is a follow-on job declared in a script payload.
type ThenJob struct {
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload"`
	Priority int64           `json:"priority,omitempty"`
}

func (ScriptArgs) Kind() string { return TypeScript }

// MaxScriptBytes bounds an inline script. The builder hands a script to sh
// as a file, not an argument, so the kernel's 128 KiB bound on one argument
// does not apply; the payload limit (256 KiB) is what bounds it in practice.
const MaxScriptBytes = 256 << 10

// MaxCleanScriptBytes bounds a resource pool's clean script.
const MaxCleanScriptBytes = 64 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validateScript(a *ScriptArgs) error {
	if err := a.Source.check(); err != nil {
		return err
	}
	if strings.TrimSpace(a.Script) == "" && a.Source.Source == "" {
		return FieldError("script", "is required")
	}
	if len(a.Script) > MaxScriptBytes {
		return FieldError("script", "is longer than %d bytes", MaxScriptBytes)
	}
	if a.Pool == "" {
		a.Pool = DefaultPool
	}
	if err := CheckName("pool", a.Pool); err != nil {
		return err
	}
	for k := range a.Env {
		if !envName.MatchString(k) {
			return FieldError("env", "%q is not a valid environment variable name", k)
		}
	}
	if len(a.Then) > 32 {
		return FieldError("then", "at most 32 follow-on jobs")
	}
	for i, t := range a.Then {
		if t.Type == "" {
			return FieldError(fmt.Sprintf("then[%d].type", i), "is required")
		}
	}
	return nil
}

func scriptFollowOns(a ScriptArgs, _ *Job) ([]FollowOn, error) {
	out := make([]FollowOn, 0, len(a.Then))
	for _, t := range a.Then {
		out = append(out, FollowOn(t))
	}
	return out, nil
}

// BuiltinTypes returns the farm's built-in job types.
func BuiltinTypes() []JobType {
	return []JobType{
		Define(TypeSpec[BinaryBuildArgs]{
			Validate:   validateBinaryBuild,
			Score:      ScoreBinaryBuild,
			Privileged: privilegedBinaryBuild,
			Pool:       func(a BinaryBuildArgs) string { return archPool(a.Arch, *a.Virtualized) },
			Defaults:   Defaults{TimeoutSeconds: 3 * 3600, MaxAttempts: 3},
		}),
		Define(TypeSpec[LiveImageBuildArgs]{
			Validate: validateLiveImage,
			Score: func(a LiveImageBuildArgs) int64 {
				s := int64(LiveImageBaseScore) + pocketScores[a.Pocket]
				if a.Private {
					s += PrivateArchiveBonus
				}
				return s
			},
			Privileged: func(a LiveImageBuildArgs) []string {
				if a.Private {
					return []string{"private"}
				}
				return nil
			},
			Pool:     func(a LiveImageBuildArgs) string { return archPool(a.Arch, true) },
			Defaults: Defaults{TimeoutSeconds: 4 * 3600, MaxAttempts: 2},
			// An image is built from the machine it runs on: only a freshly
			// reset (clean) builder may take one, and it is dirty afterwards.
			RequireClean: true,
		}),
		Define(TypeSpec[RecipeBuildArgs]{
			Validate: validateRecipe,
			Score: func(a RecipeBuildArgs) int64 {
				if a.Manual {
					return LiveImageBaseScore + 1000
				}
				return LiveImageBaseScore
			},
			Pool:      func(RecipeBuildArgs) string { return "amd64" },
			Defaults:  Defaults{TimeoutSeconds: 2 * 3600, MaxAttempts: 3},
			FollowOns: recipeFollowOns,
		}),
		Define(TypeSpec[CleanResourceArgs]{
			Validate: validateClean,
			Score:    func(CleanResourceArgs) int64 { return CleanResourceScore },
			Pool:     func(a CleanResourceArgs) string { return a.BuilderPool },
			Defaults: Defaults{TimeoutSeconds: 600, MaxAttempts: 3},
			Internal: true,
		}),
		Define(TypeSpec[ScriptArgs]{
			Validate: validateScript,
			// Environment values carry credentials for the job (a deploy
			// key, a registry password): other readers see the names only.
			Secrets:   []Secret{{Field: "env", Values: true}, {Field: "then", FollowOns: true}},
			Pool:      func(a ScriptArgs) string { return a.Pool },
			Defaults:  Defaults{TimeoutSeconds: 3600, MaxAttempts: 3},
			FollowOns: scriptFollowOns,
		}),
	}
}

// DefaultRegistry returns a new registry with the built-in types.
func DefaultRegistry() *Registry { return NewRegistry(BuiltinTypes()...) }
