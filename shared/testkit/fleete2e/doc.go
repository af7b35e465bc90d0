// Package fleete2e tests the elastic fleet against the emulator's real EC2
// and Auto Scaling APIs (moto): a scenario with the farm's API and store on
// the emulator, a pool's Auto Scaling group, the scaler, and one in-process
// agent per instance (moto's instances are not machines: each gets an agent
// and a fake instance metadata service signing its identity), and a smaller
// property test over random timelines against a moto group.
package fleete2e
