package sqsdoorbell

// DelaySeconds exposes delaySeconds to the package's tests.
var DelaySeconds = delaySeconds
