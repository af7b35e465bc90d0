package dispatch

// TableAccess is every DynamoDB action the dispatcher calls while handling
// the stream's records, by table (the topology's table IDs): re-reading a
// changed job and ringing for it (Jobs), releasing or failing the jobs that
// wait on a finished one (JobDependents, Jobs, each with its history in
// its own item), creating follow-on jobs (Jobs), and settling the
// resource a clean-resource job cleaned (Resources). The CDK stack grants
// the dispatch function exactly these, and a test on the emulator checks
// that handling every kind of record calls exactly these: a missing grant
// sends records to the dead-letter queue, an extra one is privilege no
// record needs.
var TableAccess = map[string][]string{
	"Jobs":          {"dynamodb:GetItem", "dynamodb:PutItem"},
	"JobDependents": {"dynamodb:Query"},
	"Resources":     {"dynamodb:GetItem", "dynamodb:PutItem"},
}
