package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Each broker under test runs in a child process, this same binary started with
// brokerChildEnv set, so that its CPU time can be read apart from the client's and the
// two do not share a heap and its collections. The child prints "addr HOST:PORT" once
// listening, then answers one line per command read from stdin:
//
//	cpu            -> "ok NANOSECONDS" of user plus system CPU used so far
//	profile PATH   -> starts a CPU profile written to PATH, "ok"
//	unprofile      -> stops it, "ok"
//
// and closes the broker and exits when stdin closes. Errors are "err MESSAGE".
const brokerChildEnv = "EDDY_BENCH_BROKER_CHILD"

// brokerChildSpec tells the child which target to start.
type brokerChildSpec struct {
	Target    string `json:"target"`
	Dir       string `json:"dir"`
	ValueSize int    `json:"value_size"`
}

func init() {
	if spec := os.Getenv(brokerChildEnv); spec != "" {
		// This process is a broker under test, not the report; main must not run.
		os.Exit(runBrokerChild(spec, os.Stdin, os.Stdout))
	}
}

func runBrokerChild(specJSON string, in io.Reader, out io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	var spec brokerChildSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fail(fmt.Errorf("spec: %w", err))
	}
	var target *brokerTarget
	for _, t := range brokerTargets(brokerWorkload{valueSize: spec.ValueSize}) {
		if t.id == spec.Target {
			target = &t
		}
	}
	if target == nil {
		return fail(fmt.Errorf("unknown target %q", spec.Target))
	}
	addr, stop, err := target.start(context.Background(), spec.Dir)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "addr %s\n", addr)

	var profile *os.File
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		var err error
		reply := "ok"
		switch cmd {
		case "cpu":
			var d time.Duration
			if d, err = processCPU(); err == nil {
				reply = fmt.Sprintf("ok %d", d.Nanoseconds())
			}
		case "profile":
			if profile, err = os.Create(arg); err == nil {
				err = pprof.StartCPUProfile(profile)
			}
		case "unprofile":
			pprof.StopCPUProfile()
			if profile != nil {
				err = profile.Close()
				profile = nil
			}
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			reply = "err " + err.Error()
		}
		fmt.Fprintln(out, reply)
	}
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "broker child %s: close: %v\n", spec.Target, err)
		return 1
	}
	return 0
}

// processCPU returns the user plus system CPU time this process has used.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// brokerChild is the report's handle on a broker running in a child process.
type brokerChild struct {
	addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// errBrokerChild reports a child that failed or answered something unexpected.
var errBrokerChild = errors.New("broker child")

// startBrokerChild starts target t in a child process on dir. The child is killed if
// ctx ends first.
func startBrokerChild(ctx context.Context, t brokerTarget, w brokerWorkload, dir string) (*brokerChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(brokerChildSpec{Target: t.id, Dir: dir, ValueSize: w.valueSize})
	if err != nil {
		return nil, err
	}
	return launchBrokerChild(ctx, exe, brokerChildEnv+"="+string(spec), t.id)
}

// launchBrokerChild runs exe with env added, as a broker child that prints "addr ADDR"
// first and exits when its stdin closes; what names the child in errors.
func launchBrokerChild(ctx context.Context, exe, env, what string) (*brokerChild, error) {
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBrokerChild, err)
	}
	c := &brokerChild{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	line, err := c.readLine()
	if err == nil {
		var ok bool
		if c.addr, ok = strings.CutPrefix(line, "addr "); !ok {
			err = fmt.Errorf("%w %s: %s", errBrokerChild, what, line)
		}
	}
	if err != nil {
		in.Close()
		cmd.Wait()
		return nil, err
	}
	return c, nil
}

func (c *brokerChild) readLine() (string, error) {
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return "", fmt.Errorf("%w: %w", errBrokerChild, err)
		}
		return "", fmt.Errorf("%w: exited early", errBrokerChild)
	}
	return c.out.Text(), nil
}

// call sends one command and returns what follows "ok".
func (c *brokerChild) call(cmd string) (string, error) {
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return "", fmt.Errorf("%w: %w", errBrokerChild, err)
	}
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("%w: %s: %s", errBrokerChild, cmd, line)
}

// cpu returns the CPU time the child has used so far.
func (c *brokerChild) cpu() (time.Duration, error) {
	s, err := c.call("cpu")
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: cpu %q: %w", errBrokerChild, s, err)
	}
	return time.Duration(ns), nil
}

// close closes the child's broker and waits for the child to exit.
func (c *brokerChild) close() error {
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("%w: %w", errBrokerChild, err)
	}
	return nil
}
