package apiv1

// HandBackRequest is POST /v1/jobs/{id}/release: the builder holding the
// claim gives the job back (a spot interruption notice, the machine going
// away); it is requeued at once, its attempt not counted.
type HandBackRequest struct {
	ClaimToken string `json:"claim_token"`
	// Reason goes into the job's history.
	Reason string `json:"reason"`
}

// InstanceTokenRequest is POST /v1/instance-tokens: an EC2 instance of one
// of the farm's Auto Scaling groups proves who it is with its signed
// instance identity document and gets a builder token of its own.
type InstanceTokenRequest struct {
	// Document is the instance identity document exactly as the instance
	// metadata service served it (/latest/dynamic/instance-identity/document).
	Document string `json:"document"`
	// Signature is /latest/dynamic/instance-identity/signature: base64 of
	// the document's RSA-SHA256 signature by AWS.
	Signature string `json:"signature"`
	// Nonce is the instance's own secret, chosen at its first request: the
	// farm remembers its hash, and later requests for the same instance
	// must carry it (a copied document alone gets nothing).
	Nonce string `json:"nonce"`
}
