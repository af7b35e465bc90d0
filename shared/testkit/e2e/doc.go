// Package e2e holds the farm's end-to-end tests: the local runtime against
// the emulator, with real builder agent processes that are killed, paused
// and resumed, and a real agent cleaning pooled resources. They run in the
// normal test command.
package e2e
