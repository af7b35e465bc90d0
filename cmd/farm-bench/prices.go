package main

// Prices are AWS list prices in USD that turn counted calls into money.
type Prices struct {
	Region string `json:"region"`
	AsOf   string `json:"as_of"`
	Note   string `json:"note"`
	// DynamoDB on-demand, per million request units.
	DynamoDBWriteUnitPerMillion float64 `json:"dynamodb_write_request_unit_per_million"`
	DynamoDBReadUnitPerMillion  float64 `json:"dynamodb_read_request_unit_per_million"`
	// SQS standard queue, per million requests (a request is up to 64 KB).
	SQSRequestPerMillion float64 `json:"sqs_request_per_million"`
	// S3 Standard, per thousand requests: PUT, COPY, POST, LIST; GET, HEAD.
	S3PutPerThousand float64 `json:"s3_put_per_thousand"`
	S3GetPerThousand float64 `json:"s3_get_per_thousand"`
	// Lambda on arm64 (the farm's default): requests and compute.
	LambdaRequestPerMillion float64 `json:"lambda_request_per_million"`
	LambdaGBSecond          float64 `json:"lambda_arm64_gb_second"`
	// API Gateway HTTP API, per million requests (first 300 million a month).
	APIGatewayHTTPPerMillion float64 `json:"api_gateway_http_api_request_per_million"`
	// Lambda Function URL requests cost nothing beyond the invocation.
	FunctionURLPerMillion float64 `json:"lambda_function_url_request_per_million"`
	// CloudWatch Logs ingestion (standard log class), per GB (see GB).
	CloudWatchLogsIngestPerGB float64 `json:"cloudwatch_logs_ingestion_per_gb"`
}

// GB is the gigabyte CloudWatch bills ingestion by (2^30 bytes).
const GB = 1 << 30

// ListPrices are the prices the benchmark uses: us-east-1, first tier, no
// free tier. Written down on AsOf from AWS's public pricing pages (DynamoDB
// on-demand as cut on 2024-11-01; CloudWatch Logs standard ingestion and
// Function URLs, which add no charge to the invocation, on 2026-12-02); the
// benchmark does not fetch prices.
var ListPrices = Prices{
	Region: "us-east-1",
	AsOf:   "2026-11-23",
	Note: "AWS list prices written into cmd/farm-bench/prices.go (first tier, no free tier, " +
		"DynamoDB on-demand as cut on 2024-11-01; CloudWatch Logs ingestion and Lambda Function URL requests added 2026-12-02); " +
		"not fetched live, check them before quoting",
	DynamoDBWriteUnitPerMillion: 0.625,
	DynamoDBReadUnitPerMillion:  0.125,
	SQSRequestPerMillion:        0.40,
	S3PutPerThousand:            0.005,
	S3GetPerThousand:            0.0004,
	LambdaRequestPerMillion:     0.20,
	LambdaGBSecond:              0.0000133334,
	APIGatewayHTTPPerMillion:    1.00,
	FunctionURLPerMillion:       0,
	CloudWatchLogsIngestPerGB:   0.50,
}

// JobUsage is what one job (or one minute of a running job) uses, in
// billable units.
type JobUsage struct {
	DynamoDBWriteUnits float64 `json:"dynamodb_write_request_units"`
	DynamoDBReadUnits  float64 `json:"dynamodb_read_request_units"`
	SQSRequests        float64 `json:"sqs_requests"`
	S3PutRequests      float64 `json:"s3_put_requests"`
	S3GetRequests      float64 `json:"s3_get_requests"`
	// APIRequests are API Gateway requests, FunctionURLRequests those that
	// take the api function's URL instead; each is one api invocation.
	APIRequests         float64 `json:"api_gateway_requests"`
	FunctionURLRequests float64 `json:"function_url_requests"`
	// CloudWatchLogsBytes is what the functions log: their own lines, their
	// metric records and Lambda's platform lines.
	CloudWatchLogsBytes float64 `json:"cloudwatch_logs_bytes"`
	// LambdaInvocations counts every function's invocations (api included).
	LambdaInvocations float64 `json:"lambda_invocations"`
	LambdaGBSeconds   float64 `json:"lambda_gb_seconds"`
}

// Add returns u plus o.
func (u JobUsage) Add(o JobUsage) JobUsage {
	return JobUsage{
		DynamoDBWriteUnits:  u.DynamoDBWriteUnits + o.DynamoDBWriteUnits,
		DynamoDBReadUnits:   u.DynamoDBReadUnits + o.DynamoDBReadUnits,
		SQSRequests:         u.SQSRequests + o.SQSRequests,
		S3PutRequests:       u.S3PutRequests + o.S3PutRequests,
		S3GetRequests:       u.S3GetRequests + o.S3GetRequests,
		APIRequests:         u.APIRequests + o.APIRequests,
		FunctionURLRequests: u.FunctionURLRequests + o.FunctionURLRequests,
		CloudWatchLogsBytes: u.CloudWatchLogsBytes + o.CloudWatchLogsBytes,
		LambdaInvocations:   u.LambdaInvocations + o.LambdaInvocations,
		LambdaGBSeconds:     u.LambdaGBSeconds + o.LambdaGBSeconds,
	}
}

// Scale returns u times f.
func (u JobUsage) Scale(f float64) JobUsage {
	return JobUsage{
		DynamoDBWriteUnits:  u.DynamoDBWriteUnits * f,
		DynamoDBReadUnits:   u.DynamoDBReadUnits * f,
		SQSRequests:         u.SQSRequests * f,
		S3PutRequests:       u.S3PutRequests * f,
		S3GetRequests:       u.S3GetRequests * f,
		APIRequests:         u.APIRequests * f,
		FunctionURLRequests: u.FunctionURLRequests * f,
		CloudWatchLogsBytes: u.CloudWatchLogsBytes * f,
		LambdaInvocations:   u.LambdaInvocations * f,
		LambdaGBSeconds:     u.LambdaGBSeconds * f,
	}
}

// rounded rounds for the report.
func (u JobUsage) rounded() JobUsage {
	return JobUsage{
		DynamoDBWriteUnits: round(u.DynamoDBWriteUnits, 2), DynamoDBReadUnits: round(u.DynamoDBReadUnits, 2),
		SQSRequests: round(u.SQSRequests, 2), S3PutRequests: round(u.S3PutRequests, 2), S3GetRequests: round(u.S3GetRequests, 2),
		APIRequests: round(u.APIRequests, 2), FunctionURLRequests: round(u.FunctionURLRequests, 2), CloudWatchLogsBytes: round(u.CloudWatchLogsBytes, 0),
		LambdaInvocations: round(u.LambdaInvocations, 2), LambdaGBSeconds: round(u.LambdaGBSeconds, 5),
	}
}

// Cost is USD, split by service.
type Cost struct {
	Total      float64 `json:"total"`
	DynamoDB   float64 `json:"dynamodb"`
	SQS        float64 `json:"sqs"`
	S3         float64 `json:"s3"`
	Lambda     float64 `json:"lambda"`
	APIGateway float64 `json:"api_gateway"`
	// FunctionURL is 0 at list prices; kept so that the split says so.
	FunctionURL    float64 `json:"function_url"`
	CloudWatchLogs float64 `json:"cloudwatch_logs"`
}

// PerMillion is the cost of a million times u.
func (p Prices) PerMillion(u JobUsage) Cost {
	c := Cost{
		// units per job × price per million units = price per million jobs
		DynamoDB:    u.DynamoDBWriteUnits*p.DynamoDBWriteUnitPerMillion + u.DynamoDBReadUnits*p.DynamoDBReadUnitPerMillion,
		SQS:         u.SQSRequests * p.SQSRequestPerMillion,
		S3:          (u.S3PutRequests*p.S3PutPerThousand + u.S3GetRequests*p.S3GetPerThousand) * 1000,
		Lambda:      u.LambdaInvocations*p.LambdaRequestPerMillion + u.LambdaGBSeconds*1e6*p.LambdaGBSecond,
		APIGateway:  u.APIRequests * p.APIGatewayHTTPPerMillion,
		FunctionURL: u.FunctionURLRequests * p.FunctionURLPerMillion,
		// bytes per job × a million jobs / bytes per GB × price per GB
		CloudWatchLogs: u.CloudWatchLogsBytes * 1e6 / GB * p.CloudWatchLogsIngestPerGB,
	}
	c.Total = c.DynamoDB + c.SQS + c.S3 + c.Lambda + c.APIGateway + c.FunctionURL + c.CloudWatchLogs
	return c.rounded()
}

func (c Cost) rounded() Cost {
	return Cost{
		Total: round(c.Total, 4), DynamoDB: round(c.DynamoDB, 4), SQS: round(c.SQS, 4),
		S3: round(c.S3, 4), Lambda: round(c.Lambda, 4), APIGateway: round(c.APIGateway, 4),
		FunctionURL: round(c.FunctionURL, 4), CloudWatchLogs: round(c.CloudWatchLogs, 4),
	}
}
