// Command pulumi-language-python is this project's own, deliberately small Pulumi language
// host for Python programs.
//
// The Pulumi CLI starts it as `pulumi-language-python [flags] <engine-address>`, reads the
// gRPC port it prints as the first line of stdout, and then calls the LanguageRuntime service
// on that port. The interesting call is Run: it starts
//
//	<python> -u <dir>/pulumi-language-python-exec --monitor ... <program> <args...>
//
// where pulumi-language-python-exec is the shim script shipped in the Pulumi SDK module
// (python/cmd/pulumi-language-python-exec) and installed next to this binary.
//
// Compared with the upstream host this one never creates virtual environments and never
// installs packages: dependencies are managed by `make setup`. It reports no required
// plugins; the only plugin our programs use is the bundled dynamic provider (pulumi-python),
// which the engine locates on its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	// version reported by GetPluginInfo: the Pulumi release this host is built against.
	version = "3.274.1"

	// execShimName is the Python shim that runs the user's program.
	execShimName = "pulumi-language-python-exec"

	// bailExitCode is what the exec shim exits with after it has already shown the user an
	// actionable error (for example an unhandled exception with its traceback).
	bailExitCode = 32

	// healthInterval is how often we check that the engine is still alive.
	healthInterval = 5 * time.Minute
)

// options holds the command line of the host.
type options struct {
	engineAddress string
	tracing       string
	executor      string            // -use-executor: explicit path to the exec shim
	flags         map[string]string // every flag seen, for diagnostics
}

// valueFlags are the flags (known from the engine and from upstream hosts) that take a
// separate value when written without "=". Everything else without "=" is a boolean.
var valueFlags = map[string]bool{
	"tracing":      true,
	"root":         true,
	"binary":       true,
	"virtualenv":   true,
	"typechecker":  true,
	"toolchain":    true,
	"use-executor": true,
	"v":            true,
}

// parseArgs parses the host's command line leniently: unknown flags are accepted and ignored.
// The engine address is the last positional argument (the engine always passes it last).
func parseArgs(args []string) (options, error) {
	opts := options{flags: map[string]string{}}
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name := strings.TrimLeft(arg, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		if !hasValue {
			switch {
			case valueFlags[name]:
				// A value flag consumes the next argument, unless that is the final
				// argument (the engine address) or looks like another flag.
				if i+1 < len(args)-1 && !strings.HasPrefix(args[i+1], "-") {
					value = args[i+1]
					i++
				}
			default:
				value = "true"
			}
		}
		opts.flags[name] = value
		switch name {
		case "tracing":
			opts.tracing = value
		case "use-executor":
			opts.executor = value
		}
	}
	if len(positional) > 0 {
		opts.engineAddress = positional[len(positional)-1]
	}
	return opts, nil
}

// findExecShim locates pulumi-language-python-exec: explicit -use-executor, else next to this
// binary (first the directory it was invoked from, which may hold a symlink, then the directory
// of the resolved executable), else on PATH.
func findExecShim(explicit string) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	var dirs []string
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		if abs, err := filepath.Abs(os.Args[0]); err == nil {
			dirs = append(dirs, filepath.Dir(abs))
		}
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(resolved))
		}
	}
	for _, dir := range dirs {
		candidate := filepath.Join(dir, execShimName)
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() {
			return candidate, nil
		}
	}
	if p, err := exec.LookPath(execShimName); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("could not find %s next to the language host (looked in %s) or on PATH",
		execShimName, strings.Join(dirs, ", "))
}

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fatalf("%v", err)
	}
	if os.Getenv("PULUMI_LANGHOST_LOG_ARGS") != "" {
		fmt.Fprintf(os.Stderr, "pulumi-language-python args: %q\n", os.Args[1:])
	}

	shim, err := findExecShim(opts.executor)
	if err != nil {
		fatalf("%v", err)
	}

	host := newHost(shim, opts.engineAddress, opts.tracing)

	// Stop serving on SIGINT/SIGTERM or when the engine goes away.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, opts.engineAddress, healthInterval, stop); err != nil {
			fatalf("could not start health check of the engine at %s: %v", opts.engineAddress, err)
		}
	}
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		stop() // restore default signal handling: a second Ctrl-C kills us
		host.interruptChildren()
		close(cancel)
	}()

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fatalf("could not start language host RPC server: %v", err)
	}

	// The engine reads exactly one line from our stdout: the port.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fatalf("language host RPC stopped serving: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: "+format+"\n", args...)
	os.Exit(1)
}

// host implements pulumirpc.LanguageRuntimeServer.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	shim    string
	tracing string

	// stdout/stderr of child programs; the engine forwards our own streams.
	stdout io.Writer
	stderr io.Writer

	mu            sync.Mutex
	engineAddress string
	running       map[*exec.Cmd]struct{}
}

func newHost(shim, engineAddress, tracing string) *host {
	return &host{
		shim:          shim,
		engineAddress: engineAddress,
		tracing:       tracing,
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		running:       map[*exec.Cmd]struct{}{},
	}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// interruptChildren sends SIGINT to every running program.
func (h *host) interruptChildren() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd := range h.running {
		if cmd.Process != nil {
			_ = cmd.Process.Signal(os.Interrupt)
		}
	}
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if addr := req.GetEngineAddress(); addr != "" {
		h.mu.Lock()
		h.engineAddress = addr
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) InstallDependencies(_ *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	return server.Send(&pulumirpc.InstallDependenciesResponse{
		Stdout: []byte("Python dependencies are managed by `make setup`; nothing to install.\n"),
	})
}

// Cancel interrupts any running program; the engine stops this process afterwards.
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.interruptChildren()
	return &emptypb.Empty{}, nil
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python, _, err := choosePython(req.GetInfo())
	if err != nil {
		// A broken virtualenv option should not break `pulumi about`.
		python, _, err = choosePython(nil)
	}
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(python, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: python,
		Version:    strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Python")),
	}, nil
}

// virtualenvDir returns the absolute virtualenv directory from the runtime options, or "".
func virtualenvDir(info *pulumirpc.ProgramInfo) string {
	if info == nil || info.GetOptions() == nil {
		return ""
	}
	v, ok := info.GetOptions().GetFields()["virtualenv"]
	if !ok {
		return ""
	}
	dir := v.GetStringValue()
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(info.GetRootDirectory(), dir)
	}
	return filepath.Clean(dir)
}

// choosePython picks the interpreter: the virtualenv runtime option, else $PULUMI_PYTHON_CMD,
// else python3, else python. It returns the absolute interpreter path and the virtualenv
// directory ("" when none is used).
func choosePython(info *pulumirpc.ProgramInfo) (string, string, error) {
	if venv := virtualenvDir(info); venv != "" {
		python := filepath.Join(venv, "bin", "python")
		if st, err := os.Stat(python); err != nil || st.IsDir() {
			return "", "", fmt.Errorf("the 'virtualenv' runtime option in Pulumi.yaml is %q, but %s does not exist; "+
				"this language host does not create virtual environments, run `make setup` first", venv, python)
		}
		return python, venv, nil
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		p, err := exec.LookPath(cmd)
		if err != nil {
			return "", "", fmt.Errorf("PULUMI_PYTHON_CMD=%q: %w", cmd, err)
		}
		p, err = filepath.Abs(p)
		return p, "", err
	}
	for _, name := range []string{"python3", "python"} {
		if p, err := exec.LookPath(name); err == nil {
			p, err = filepath.Abs(p)
			return p, "", err
		}
	}
	return "", "", errors.New("could not find a Python interpreter: neither python3 nor python is on PATH " +
		"(set PULUMI_PYTHON_CMD or the 'virtualenv' runtime option)")
}

// programPath returns the program argument for the exec shim: the entry point resolved against
// the program directory ("." meaning the directory itself, which must hold __main__.py).
func programPath(req *pulumirpc.RunRequest) string {
	info := req.GetInfo()
	entry := req.GetProgram() //nolint:staticcheck // fallback for requests without Info
	dir := ""
	if info != nil {
		if info.GetEntryPoint() != "" {
			entry = info.GetEntryPoint()
		}
		dir = info.GetProgramDirectory()
	}
	if entry == "" {
		entry = "."
	}
	if filepath.IsAbs(entry) || dir == "" {
		return entry
	}
	return filepath.Clean(filepath.Join(dir, entry))
}

// shimArgs builds the exec shim's command line (without the interpreter).
func (h *host) shimArgs(req *pulumirpc.RunRequest) []string {
	args := []string{"-u", h.shim}
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine())
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("tracing", h.tracing)
	args = append(args, programPath(req))
	return append(args, req.GetArgs()...)
}

// runEnv builds the child's environment from base: config as JSON, PYTHONPATH for a program
// given as a file and, with a virtualenv, an activated PATH.
func runEnv(base []string, req *pulumirpc.RunRequest, venv string) ([]string, error) {
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}

	env := setEnv(base, "PULUMI_CONFIG", string(configJSON))
	env = setEnv(env, "PULUMI_CONFIG_SECRET_KEYS", string(secretJSON))
	// runpy.run_path puts a program directory on sys.path but not the directory of a program
	// file; do what `python file.py` does so that modules next to the entry point import.
	if prog := programPath(req); filepath.IsAbs(prog) {
		if st, err := os.Stat(prog); err == nil && st.Mode().IsRegular() {
			pythonPath := filepath.Dir(prog)
			if old := getEnv(env, "PYTHONPATH"); old != "" {
				pythonPath += string(os.PathListSeparator) + old
			}
			env = setEnv(env, "PYTHONPATH", pythonPath)
		}
	}
	if venv != "" {
		path := filepath.Join(venv, "bin")
		if old := getEnv(env, "PATH"); old != "" {
			path += string(os.PathListSeparator) + old
		}
		env = setEnv(env, "PATH", path)
		env = setEnv(env, "VIRTUAL_ENV", venv)
		env = unsetEnv(env, "PYTHONHOME")
	}
	return env, nil
}

func getEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func unsetEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return out
}

func setEnv(env []string, key, value string) []string {
	return append(unsetEnv(env, key), key+"="+value)
}

// Run executes the Python program through the exec shim and waits for it.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	python, venv, err := choosePython(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env, err := runEnv(os.Environ(), req, venv)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	cmd := exec.CommandContext(ctx, python, h.shimArgs(req)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = env
	cmd.Stdout = h.stdout
	cmd.Stderr = h.stderr
	// If the engine abandons the request, ask the program to stop, then kill it.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second

	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run %s): %v", python, err),
		}, nil
	}
	h.mu.Lock()
	h.running[cmd] = struct{}{}
	h.mu.Unlock()
	err = cmd.Wait()
	h.mu.Lock()
	delete(h.running, cmd)
	h.mu.Unlock()

	return runResponse(err), nil
}

// runResponse maps the program's exit status to the engine's RunResponse.
func runResponse(err error) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		switch {
		case code == bailExitCode:
			return &pulumirpc.RunResponse{Bail: true}
		case code >= 0:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}
		default:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", exitErr)}
		}
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program: %v", err)}
}
