package main

// Canned answers of the fake farm, in the farm's own JSON.
const (
	queuedJob = `{"id":"01JOB","type":"script","status":"queued","pool":"default","score":100,"priority":0,` +
		`"payload":{"script":"echo hi"},"requested_by":"token:abc","created_at":"2026-05-04T11:59:00Z",` +
		`"queued_at":"2026-05-04T11:59:00Z","attempts":0,"max_attempts":3,"timeout_seconds":3600,` +
		`"estimated_start_at":"2026-05-04T12:00:30Z","version":1}` + "\n"
	runningJob = `{"id":"01JOB","type":"script","status":"running","pool":"default","score":100,"priority":0,` +
		`"payload":{"script":"echo hi"},"requested_by":"token:abc","created_at":"2026-05-04T11:59:00Z",` +
		`"started_at":"2026-05-04T11:59:10Z","attempts":1,"max_attempts":3,"timeout_seconds":3600,` +
		`"builder":"local-1","lease_expires_at":"2026-05-04T12:00:40Z","version":2}` + "\n"
	succeededJob = `{"id":"01JOB","type":"script","status":"succeeded","pool":"default","score":100,"priority":0,` +
		`"payload":{"script":"echo hi"},"requested_by":"token:abc","created_at":"2026-05-04T11:59:00Z",` +
		`"started_at":"2026-05-04T11:59:10Z","finished_at":"2026-05-04T11:59:12.5Z","duration_seconds":2.5,` +
		`"attempts":1,"max_attempts":3,"timeout_seconds":3600,"builder":"local-1","result":"succeeded","exit_code":0,` +
		`"log_key":"logs/01JOB.log","version":4,"a_field_farmctl_does_not_know":true}` + "\n"
	failedJob = `{"id":"01JOB","type":"script","status":"failed","pool":"default","score":100,"priority":0,` +
		`"payload":{"script":"exit 3"},"requested_by":"token:abc","created_at":"2026-05-04T11:59:00Z",` +
		`"started_at":"2026-05-04T11:59:10Z","finished_at":"2026-05-04T11:59:11Z","duration_seconds":1,` +
		`"attempts":1,"max_attempts":1,"timeout_seconds":3600,"builder":"local-1","result":"failed","exit_code":3,` +
		`"error":"exit status 3","version":4}` + "\n"
	pinnedJob = `{"id":"01JOB","type":"script","status":"queued","pool":"default","score":-5,"score_pinned":true,"priority":0,` +
		`"payload":{"script":"echo hi"},"requested_by":"token:abc","created_at":"2026-05-04T11:59:00Z",` +
		`"attempts":0,"max_attempts":3,"timeout_seconds":3600,"version":2}` + "\n"

	eventsAnswer = `{"events":[` +
		`{"job_id":"01JOB","seq":"1","at":"2026-05-04T11:59:00Z","to":"queued","actor":"token:abc","detail":"submitted"},` +
		`{"job_id":"01JOB","seq":"2","at":"2026-05-04T11:59:10Z","from":"queued","to":"running","actor":"builder:local-1","detail":"attempt 1 on local-1"},` +
		`{"job_id":"01JOB","seq":"3","at":"2026-05-04T11:59:12Z","from":"running","to":"succeeded","actor":"builder:local-1"}]}` + "\n"

	queueAnswer = `{"pools":[` +
		`{"pool":"default","waiting":1,"queued":4,"running":2,"builders_idle":0,"builders_busy":2,"builders_unavailable":1,` +
		`"slots":2,"oldest_wait_seconds":95.2,"estimated_start_at":"2026-05-04T12:01:30Z",` +
		`"time_to_start_p50_seconds":4.25,"time_to_start_p90_seconds":71.5,"started_last_hour":12},` +
		`{"pool":"arm64","waiting":0,"queued":0,"running":0,"builders_idle":1,"builders_busy":0,"builders_unavailable":0,` +
		`"slots":1,"oldest_wait_seconds":0,"time_to_start_p50_seconds":0,"time_to_start_p90_seconds":0,"started_last_hour":0}]}` + "\n"

	builderJSON = `{"name":"local-1","kind":"metal","arch":"amd64","pools":["default"],"capabilities":[],"slots":2,` +
		`"state":"busy","clean_status":"clean","draining":false,"last_heartbeat":"2026-05-04T11:59:55Z","current_jobs":["01JOB"],` +
		`"consecutive_failures":0,"total_failures":1,"jobs_completed":7,"disabled":false,` +
		`"registered_at":"2026-05-04T10:00:00Z","updated_at":"2026-05-04T11:59:55Z","version":9}`
	disabledBuilderJSON = `{"name":"ec2-7","kind":"ec2","arch":"arm64","pools":["arm64","default"],"capabilities":[],"slots":1,` +
		`"state":"disabled","clean_status":"dirty","draining":false,"current_jobs":[],` +
		`"consecutive_failures":3,"total_failures":3,"jobs_completed":0,"disabled":true,"disabled_reason":"disk full",` +
		`"registered_at":"2026-05-04T10:00:00Z","updated_at":"2026-05-04T11:00:00Z","version":3}`

	poolJSON = `{"name":"ppas","description":"test PPAs","lease_seconds":3600,"clean_script":"./wipe.sh",` +
		`"created_at":"2026-05-01T00:00:00Z","updated_at":"2026-05-02T00:00:00Z","version":2}` + "\n"
	poolViewJSON = `{"name":"ppas","description":"test PPAs","lease_seconds":3600,` +
		`"created_at":"2026-05-01T00:00:00Z","updated_at":"2026-05-02T00:00:00Z","version":2,"resources":[` +
		`{"pool":"ppas","name":"ppa-1","attributes":{"series":"noble"},"state":"used","holder":"ci-42",` +
		`"lease_expires_at":"2026-05-04T13:00:00Z","updated_at":"2026-05-04T12:00:00Z","version":3},` +
		`{"pool":"ppas","name":"ppa-2","state":"dirty","clean_job_id":"01CLEAN","updated_at":"2026-05-04T11:00:00Z","version":5}]}` + "\n"
	freeResourceJSON = `{"pool":"ppas","name":"ppa-3","attributes":{"series":"noble","arch":"amd64"},"state":"free",` +
		`"updated_at":"2026-05-04T12:00:00Z","version":1}` + "\n"
	dirtyResourceJSON = `{"pool":"ppas","name":"ppa-1","state":"dirty","clean_job_id":"01CLEAN",` +
		`"updated_at":"2026-05-04T12:00:00Z","version":4}` + "\n"
	acquireJSON = `{"resource":{"pool":"ppas","name":"ppa-1","attributes":{"series":"noble"},"state":"used","holder":"ci-42",` +
		`"lease_expires_at":"2026-05-04T13:00:00Z","updated_at":"2026-05-04T12:00:00Z","version":3},` +
		`"lease_token":"lease-secret","lease_expires_at":"2026-05-04T13:00:00Z"}` + "\n"
)
