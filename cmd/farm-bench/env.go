package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Environment is where and how the figures were measured.
type Environment struct {
	Date        string `json:"date"`
	Mode        string `json:"mode"`
	GoVersion   string `json:"go_version"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	CPUs        int    `json:"cpus"`
	Emulator    string `json:"emulator"`
	MotoVersion string `json:"moto_version"`
	// LoadAvg is /proc/loadavg at the start and the end: the machine is shared.
	LoadAvgStart string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`
	Seconds      float64 `json:"duration_seconds"`
}

func environment(mode string) Environment {
	return Environment{
		Date:         time.Now().UTC().Format(time.RFC3339),
		Mode:         mode,
		GoVersion:    runtime.Version(),
		GOOS:         runtime.GOOS,
		GOARCH:       runtime.GOARCH,
		CPUs:         runtime.NumCPU(),
		Emulator:     "moto_server (private instance started by the benchmark, loopback)",
		MotoVersion:  motoVersion(),
		LoadAvgStart: loadAvg(),
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// motoVersion asks the Python that runs moto_server (its #! line) for
// moto's version.
func motoVersion() string {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "unknown"
	}
	py := "python3"
	if f, err := os.Open(bin); err == nil {
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok && s != "" && !strings.Contains(s, " ") {
			py = s
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", "import moto; print(moto.__version__)").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
